//! The recipient's time zone, from the number: the IANA zone of its country, or of its region
//! where the country has several and the number says which (docs/api.md, "Campaigns").
//!
//! Generated tables, checked by the tests below: the US and Canadian area codes with the state
//! or province libphonenumber's geocoding data names for each (`geocoding/en/1.txt`), and that
//! state's zone (split states by area code: 219 Indiana, 270/364 Kentucky, 615/629/731/901/931
//! Tennessee and 850 Florida are Central, 915 Texas Mountain); Brazil's DDD codes; Australia's
//! geographic codes; Mexico's area codes outside the central zone.
//!
//! Only the zones needed are embedded (jiff's `get!` reads them from its bundled IANA database
//! at compile time), not the whole database, and of zones whose clocks agree from 2026 on only
//! one ([`SAME_CLOCK`]: 41 zones for the 121 named, about 230 KB less in the binary). Rebuilt
//! with a newer jiff, the rules follow the database; a change that splits two zones sharing a
//! clock fails `zones_sharing_a_clock_agree_hour_by_hour_for_ten_years`, which names the zone
//! to embed on its own.

use jiff::tz::{self, TimeZone};
use session_rules::PhoneNumber;

/// The zones embedded, sorted by name: one for each clock (zones whose offsets agree from 2026
/// on share one, [`SAME_CLOCK`]), so the binary carries 43 zones' rules, not 121.
#[rustfmt::skip]
static ZONES: &[(&str, TimeZone)] = &[
    ("Africa/Cairo", tz::get!("Africa/Cairo")),
    ("Africa/Casablanca", tz::get!("Africa/Casablanca")),
    ("Africa/Johannesburg", tz::get!("Africa/Johannesburg")),
    ("Africa/Lagos", tz::get!("Africa/Lagos")),
    ("America/Anchorage", tz::get!("America/Anchorage")),
    ("America/Argentina/Buenos_Aires", tz::get!("America/Argentina/Buenos_Aires")),
    ("America/Bogota", tz::get!("America/Bogota")),
    ("America/Caracas", tz::get!("America/Caracas")),
    ("America/Chicago", tz::get!("America/Chicago")),
    ("America/Ciudad_Juarez", tz::get!("America/Ciudad_Juarez")),
    ("America/Edmonton", tz::get!("America/Edmonton")),
    ("America/Halifax", tz::get!("America/Halifax")),
    ("America/Phoenix", tz::get!("America/Phoenix")),
    ("America/Regina", tz::get!("America/Regina")),
    ("America/Santiago", tz::get!("America/Santiago")),
    ("America/St_Johns", tz::get!("America/St_Johns")),
    ("America/Tijuana", tz::get!("America/Tijuana")),
    ("America/Toronto", tz::get!("America/Toronto")),
    ("America/Vancouver", tz::get!("America/Vancouver")),
    ("America/Winnipeg", tz::get!("America/Winnipeg")),
    ("Asia/Bangkok", tz::get!("Asia/Bangkok")),
    ("Asia/Beirut", tz::get!("Asia/Beirut")),
    ("Asia/Dhaka", tz::get!("Asia/Dhaka")),
    ("Asia/Dubai", tz::get!("Asia/Dubai")),
    ("Asia/Jerusalem", tz::get!("Asia/Jerusalem")),
    ("Asia/Kabul", tz::get!("Asia/Kabul")),
    ("Asia/Karachi", tz::get!("Asia/Karachi")),
    ("Asia/Kathmandu", tz::get!("Asia/Kathmandu")),
    ("Asia/Kolkata", tz::get!("Asia/Kolkata")),
    ("Asia/Kuala_Lumpur", tz::get!("Asia/Kuala_Lumpur")),
    ("Asia/Kuwait", tz::get!("Asia/Kuwait")),
    ("Asia/Tehran", tz::get!("Asia/Tehran")),
    ("Asia/Tokyo", tz::get!("Asia/Tokyo")),
    ("Asia/Yangon", tz::get!("Asia/Yangon")),
    ("Australia/Adelaide", tz::get!("Australia/Adelaide")),
    ("Australia/Brisbane", tz::get!("Australia/Brisbane")),
    ("Australia/Darwin", tz::get!("Australia/Darwin")),
    ("Australia/Melbourne", tz::get!("Australia/Melbourne")),
    ("Europe/Dublin", tz::get!("Europe/Dublin")),
    ("Europe/Helsinki", tz::get!("Europe/Helsinki")),
    ("Europe/Stockholm", tz::get!("Europe/Stockholm")),
    ("Pacific/Auckland", tz::get!("Pacific/Auckland")),
    ("Pacific/Honolulu", tz::get!("Pacific/Honolulu")),
];

/// A zone named in the tables → the embedded zone with the same clock from 2026 on (checked
/// by a test against each zone's own rules, hour by hour over ten years).
#[rustfmt::skip]
const SAME_CLOCK: &[(&str, &str)] = &[
    ("Africa/Nairobi", "Asia/Kuwait"),
    ("America/Boise", "America/Ciudad_Juarez"),
    ("America/Cancun", "America/Bogota"),
    ("America/Denver", "America/Ciudad_Juarez"),
    ("America/Hermosillo", "America/Phoenix"),
    ("America/Lima", "America/Bogota"),
    ("America/Los_Angeles", "America/Tijuana"),
    ("America/Manaus", "America/Caracas"),
    ("America/Mazatlan", "America/Phoenix"),
    ("America/Mexico_City", "America/Regina"),
    ("America/New_York", "America/Toronto"),
    ("America/Rio_Branco", "America/Bogota"),
    ("America/Sao_Paulo", "America/Argentina/Buenos_Aires"),
    ("Asia/Almaty", "Asia/Karachi"),
    ("Asia/Amman", "Asia/Kuwait"),
    ("Asia/Ashgabat", "Asia/Karachi"),
    ("Asia/Baghdad", "Asia/Kuwait"),
    ("Asia/Bahrain", "Asia/Kuwait"),
    ("Asia/Baku", "Asia/Dubai"),
    ("Asia/Bishkek", "Asia/Dhaka"),
    ("Asia/Colombo", "Asia/Kolkata"),
    ("Asia/Damascus", "Asia/Kuwait"),
    ("Asia/Dushanbe", "Asia/Karachi"),
    ("Asia/Ho_Chi_Minh", "Asia/Bangkok"),
    ("Asia/Hong_Kong", "Asia/Kuala_Lumpur"),
    ("Asia/Jakarta", "Asia/Bangkok"),
    ("Asia/Manila", "Asia/Kuala_Lumpur"),
    ("Asia/Muscat", "Asia/Dubai"),
    ("Asia/Nicosia", "Europe/Helsinki"),
    ("Asia/Phnom_Penh", "Asia/Bangkok"),
    ("Asia/Qatar", "Asia/Kuwait"),
    ("Asia/Riyadh", "Asia/Kuwait"),
    ("Asia/Seoul", "Asia/Tokyo"),
    ("Asia/Shanghai", "Asia/Kuala_Lumpur"),
    ("Asia/Singapore", "Asia/Kuala_Lumpur"),
    ("Asia/Taipei", "Asia/Kuala_Lumpur"),
    ("Asia/Tashkent", "Asia/Karachi"),
    ("Asia/Tbilisi", "Asia/Dubai"),
    ("Asia/Vientiane", "Asia/Bangkok"),
    ("Asia/Yerevan", "Asia/Dubai"),
    ("Australia/Perth", "Asia/Kuala_Lumpur"),
    ("Australia/Sydney", "Australia/Melbourne"),
    ("Europe/Amsterdam", "Europe/Stockholm"),
    ("Europe/Athens", "Europe/Helsinki"),
    ("Europe/Belgrade", "Europe/Stockholm"),
    ("Europe/Berlin", "Europe/Stockholm"),
    ("Europe/Bratislava", "Europe/Stockholm"),
    ("Europe/Brussels", "Europe/Stockholm"),
    ("Europe/Bucharest", "Europe/Helsinki"),
    ("Europe/Budapest", "Europe/Stockholm"),
    ("Europe/Chisinau", "Europe/Helsinki"),
    ("Europe/Copenhagen", "Europe/Stockholm"),
    ("Europe/Istanbul", "Asia/Kuwait"),
    ("Europe/Kyiv", "Europe/Helsinki"),
    ("Europe/Lisbon", "Europe/Dublin"),
    ("Europe/Ljubljana", "Europe/Stockholm"),
    ("Europe/London", "Europe/Dublin"),
    ("Europe/Luxembourg", "Europe/Stockholm"),
    ("Europe/Madrid", "Europe/Stockholm"),
    ("Europe/Malta", "Europe/Stockholm"),
    ("Europe/Minsk", "Asia/Kuwait"),
    ("Europe/Moscow", "Asia/Kuwait"),
    ("Europe/Oslo", "Europe/Stockholm"),
    ("Europe/Paris", "Europe/Stockholm"),
    ("Europe/Podgorica", "Europe/Stockholm"),
    ("Europe/Prague", "Europe/Stockholm"),
    ("Europe/Riga", "Europe/Helsinki"),
    ("Europe/Rome", "Europe/Stockholm"),
    ("Europe/Sarajevo", "Europe/Stockholm"),
    ("Europe/Skopje", "Europe/Stockholm"),
    ("Europe/Sofia", "Europe/Helsinki"),
    ("Europe/Tallinn", "Europe/Helsinki"),
    ("Europe/Tirane", "Europe/Stockholm"),
    ("Europe/Vienna", "Europe/Stockholm"),
    ("Europe/Vilnius", "Europe/Helsinki"),
    ("Europe/Warsaw", "Europe/Stockholm"),
    ("Europe/Zagreb", "Europe/Stockholm"),
    ("Europe/Zurich", "Europe/Stockholm"),
];

/// ISO 3166 country → its zone; a country with several zones: its capital's, unless
/// [`REGIONS`] knows the number's region. Guernsey, Jersey and the Isle of Man (+44 numbers
/// of their own, e.g. 7911 is Guernsey's) keep London's clock.
#[rustfmt::skip]
const COUNTRIES: &[(&str, &str)] = &[
    ("AE", "Asia/Dubai"), ("AF", "Asia/Kabul"), ("AL", "Europe/Tirane"), ("AM", "Asia/Yerevan"),
    ("AR", "America/Argentina/Buenos_Aires"), ("AT", "Europe/Vienna"), ("AU", "Australia/Sydney"),
    ("AZ", "Asia/Baku"), ("BA", "Europe/Sarajevo"), ("BD", "Asia/Dhaka"), ("BE", "Europe/Brussels"),
    ("BG", "Europe/Sofia"), ("BH", "Asia/Bahrain"), ("BR", "America/Sao_Paulo"),
    ("BY", "Europe/Minsk"), ("CA", "America/Toronto"), ("CH", "Europe/Zurich"),
    ("CL", "America/Santiago"), ("CN", "Asia/Shanghai"), ("CO", "America/Bogota"),
    ("CY", "Asia/Nicosia"), ("CZ", "Europe/Prague"), ("DE", "Europe/Berlin"),
    ("DK", "Europe/Copenhagen"), ("EE", "Europe/Tallinn"), ("EG", "Africa/Cairo"),
    ("ES", "Europe/Madrid"), ("FI", "Europe/Helsinki"), ("FR", "Europe/Paris"),
    ("GB", "Europe/London"), ("GE", "Asia/Tbilisi"), ("GG", "Europe/London"),
    ("GR", "Europe/Athens"), ("HK", "Asia/Hong_Kong"), ("HR", "Europe/Zagreb"),
    ("HU", "Europe/Budapest"), ("ID", "Asia/Jakarta"), ("IE", "Europe/Dublin"),
    ("IL", "Asia/Jerusalem"), ("IM", "Europe/London"), ("IN", "Asia/Kolkata"),
    ("IQ", "Asia/Baghdad"), ("IR", "Asia/Tehran"), ("IT", "Europe/Rome"), ("JE", "Europe/London"),
    ("JO", "Asia/Amman"), ("JP", "Asia/Tokyo"), ("KE", "Africa/Nairobi"), ("KG", "Asia/Bishkek"),
    ("KH", "Asia/Phnom_Penh"), ("KR", "Asia/Seoul"), ("KW", "Asia/Kuwait"), ("KZ", "Asia/Almaty"),
    ("LA", "Asia/Vientiane"), ("LB", "Asia/Beirut"), ("LK", "Asia/Colombo"),
    ("LT", "Europe/Vilnius"), ("LU", "Europe/Luxembourg"), ("LV", "Europe/Riga"),
    ("MA", "Africa/Casablanca"), ("MD", "Europe/Chisinau"), ("ME", "Europe/Podgorica"),
    ("MK", "Europe/Skopje"), ("MM", "Asia/Yangon"), ("MT", "Europe/Malta"),
    ("MX", "America/Mexico_City"), ("MY", "Asia/Kuala_Lumpur"), ("NG", "Africa/Lagos"),
    ("NL", "Europe/Amsterdam"), ("NO", "Europe/Oslo"), ("NP", "Asia/Kathmandu"),
    ("NZ", "Pacific/Auckland"), ("OM", "Asia/Muscat"), ("PE", "America/Lima"),
    ("PH", "Asia/Manila"), ("PK", "Asia/Karachi"), ("PL", "Europe/Warsaw"), ("PT", "Europe/Lisbon"),
    ("QA", "Asia/Qatar"), ("RO", "Europe/Bucharest"), ("RS", "Europe/Belgrade"),
    ("RU", "Europe/Moscow"), ("SA", "Asia/Riyadh"), ("SE", "Europe/Stockholm"),
    ("SG", "Asia/Singapore"), ("SI", "Europe/Ljubljana"), ("SK", "Europe/Bratislava"),
    ("SY", "Asia/Damascus"), ("TH", "Asia/Bangkok"), ("TJ", "Asia/Dushanbe"),
    ("TM", "Asia/Ashgabat"), ("TR", "Europe/Istanbul"), ("TW", "Asia/Taipei"),
    ("UA", "Europe/Kyiv"), ("US", "America/New_York"), ("UZ", "Asia/Tashkent"),
    ("VE", "America/Caracas"), ("VN", "Asia/Ho_Chi_Minh"), ("ZA", "Africa/Johannesburg"),
];

/// International digits (country code included) → zone, for countries with several zones whose
/// numbers carry the region: the longest matching prefix wins.
#[rustfmt::skip]
const REGIONS: &[(&str, &str)] = &[
    ("1201", "America/New_York"), ("1202", "America/New_York"), ("1204", "America/Winnipeg"),
    ("1205", "America/Chicago"), ("1206", "America/Los_Angeles"), ("1207", "America/New_York"),
    ("1208", "America/Boise"), ("1209", "America/Los_Angeles"), ("1210", "America/Chicago"),
    ("1212", "America/New_York"), ("1213", "America/Los_Angeles"), ("1214", "America/Chicago"),
    ("1215", "America/New_York"), ("1216", "America/New_York"), ("1217", "America/Chicago"),
    ("1218", "America/Chicago"), ("1219", "America/Chicago"), ("1220", "America/New_York"),
    ("1223", "America/New_York"), ("1224", "America/Chicago"), ("1225", "America/Chicago"),
    ("1226", "America/Toronto"), ("1227", "America/New_York"), ("1228", "America/Chicago"),
    ("1229", "America/New_York"), ("1231", "America/New_York"), ("1234", "America/New_York"),
    ("1235", "America/Chicago"), ("1236", "America/Vancouver"), ("1239", "America/New_York"),
    ("1240", "America/New_York"), ("1248", "America/New_York"), ("1249", "America/Toronto"),
    ("1250", "America/Vancouver"), ("1251", "America/Chicago"), ("1252", "America/New_York"),
    ("1253", "America/Los_Angeles"), ("1254", "America/Chicago"), ("1256", "America/Chicago"),
    ("1257", "America/Vancouver"), ("1260", "America/New_York"), ("1262", "America/Chicago"),
    ("1263", "America/Toronto"), ("1267", "America/New_York"), ("1269", "America/New_York"),
    ("1270", "America/Chicago"), ("1272", "America/New_York"), ("1274", "America/Chicago"),
    ("1276", "America/New_York"), ("1279", "America/Los_Angeles"), ("1281", "America/Chicago"),
    ("1283", "America/New_York"), ("1289", "America/Toronto"), ("1301", "America/New_York"),
    ("1302", "America/New_York"), ("1303", "America/Denver"), ("1304", "America/New_York"),
    ("1305", "America/New_York"), ("1306", "America/Regina"), ("1307", "America/Denver"),
    ("1308", "America/Chicago"), ("1309", "America/Chicago"), ("1312", "America/Chicago"),
    ("1313", "America/New_York"), ("1314", "America/Chicago"), ("1315", "America/New_York"),
    ("1316", "America/Chicago"), ("1317", "America/New_York"), ("1318", "America/Chicago"),
    ("1319", "America/Chicago"), ("1320", "America/Chicago"), ("1321", "America/New_York"),
    ("1323", "America/Los_Angeles"), ("1324", "America/New_York"), ("1325", "America/Chicago"),
    ("1326", "America/New_York"), ("1327", "America/Chicago"), ("1329", "America/New_York"),
    ("1330", "America/New_York"), ("1331", "America/Chicago"), ("1332", "America/New_York"),
    ("1334", "America/Chicago"), ("1336", "America/New_York"), ("1337", "America/Chicago"),
    ("1339", "America/New_York"), ("1341", "America/Los_Angeles"), ("1343", "America/Toronto"),
    ("1346", "America/Chicago"), ("1347", "America/New_York"), ("1350", "America/Los_Angeles"),
    ("1351", "America/New_York"), ("1352", "America/New_York"), ("1353", "America/Chicago"),
    ("1354", "America/Toronto"), ("1360", "America/Los_Angeles"), ("1361", "America/Chicago"),
    ("1363", "America/New_York"), ("1364", "America/Chicago"), ("1365", "America/Toronto"),
    ("1367", "America/Toronto"), ("1368", "America/Edmonton"), ("1369", "America/Los_Angeles"),
    ("1380", "America/New_York"), ("1382", "America/Toronto"), ("1385", "America/Denver"),
    ("1386", "America/New_York"), ("1401", "America/New_York"), ("1402", "America/Chicago"),
    ("1403", "America/Edmonton"), ("1404", "America/New_York"), ("1405", "America/Chicago"),
    ("1406", "America/Denver"), ("1407", "America/New_York"), ("1408", "America/Los_Angeles"),
    ("1409", "America/Chicago"), ("1410", "America/New_York"), ("1412", "America/New_York"),
    ("1413", "America/New_York"), ("1414", "America/Chicago"), ("1415", "America/Los_Angeles"),
    ("1416", "America/Toronto"), ("1417", "America/Chicago"), ("1418", "America/Toronto"),
    ("1419", "America/New_York"), ("1423", "America/New_York"), ("1424", "America/Los_Angeles"),
    ("1425", "America/Los_Angeles"), ("1428", "America/Halifax"), ("1430", "America/Chicago"),
    ("1431", "America/Winnipeg"), ("1432", "America/Chicago"), ("1434", "America/New_York"),
    ("1435", "America/Denver"), ("1437", "America/Toronto"), ("1438", "America/Toronto"),
    ("1440", "America/New_York"), ("1442", "America/Los_Angeles"), ("1443", "America/New_York"),
    ("1445", "America/New_York"), ("1447", "America/Chicago"), ("1448", "America/New_York"),
    ("1450", "America/Toronto"), ("1458", "America/Los_Angeles"), ("1463", "America/New_York"),
    ("1464", "America/Chicago"), ("1468", "America/Toronto"), ("1469", "America/Chicago"),
    ("1470", "America/New_York"), ("1472", "America/New_York"), ("1474", "America/Regina"),
    ("1475", "America/New_York"), ("1478", "America/New_York"), ("1479", "America/Chicago"),
    ("1480", "America/Phoenix"), ("1484", "America/New_York"), ("1501", "America/Chicago"),
    ("1502", "America/New_York"), ("1503", "America/Los_Angeles"), ("1504", "America/Chicago"),
    ("1505", "America/Denver"), ("1506", "America/Halifax"), ("1507", "America/Chicago"),
    ("1508", "America/New_York"), ("1509", "America/Los_Angeles"), ("1510", "America/Los_Angeles"),
    ("1512", "America/Chicago"), ("1513", "America/New_York"), ("1514", "America/Toronto"),
    ("1515", "America/Chicago"), ("1516", "America/New_York"), ("1517", "America/New_York"),
    ("1518", "America/New_York"), ("1519", "America/Toronto"), ("1520", "America/Phoenix"),
    ("1530", "America/Los_Angeles"), ("1531", "America/Chicago"), ("1534", "America/Chicago"),
    ("1539", "America/Chicago"), ("1540", "America/New_York"), ("1541", "America/Los_Angeles"),
    ("1548", "America/Toronto"), ("1551", "America/New_York"), ("1557", "America/Chicago"),
    ("1559", "America/Los_Angeles"), ("1561", "America/New_York"), ("1562", "America/Los_Angeles"),
    ("1563", "America/Chicago"), ("1564", "America/Los_Angeles"), ("1567", "America/New_York"),
    ("1570", "America/New_York"), ("1571", "America/New_York"), ("1572", "America/Chicago"),
    ("1573", "America/Chicago"), ("1574", "America/New_York"), ("1575", "America/Denver"),
    ("1579", "America/Toronto"), ("1580", "America/Chicago"), ("1581", "America/Toronto"),
    ("1582", "America/New_York"), ("1584", "America/Winnipeg"), ("1585", "America/New_York"),
    ("1586", "America/New_York"), ("1587", "America/Edmonton"), ("1601", "America/Chicago"),
    ("1602", "America/Phoenix"), ("1603", "America/New_York"), ("1604", "America/Vancouver"),
    ("1605", "America/Chicago"), ("1606", "America/New_York"), ("1607", "America/New_York"),
    ("1608", "America/Chicago"), ("1609", "America/New_York"), ("1610", "America/New_York"),
    ("1612", "America/Chicago"), ("1613", "America/Toronto"), ("1614", "America/New_York"),
    ("1615", "America/Chicago"), ("1616", "America/New_York"), ("1617", "America/New_York"),
    ("1618", "America/Chicago"), ("1619", "America/Los_Angeles"), ("1620", "America/Chicago"),
    ("1623", "America/Phoenix"), ("1626", "America/Los_Angeles"), ("1628", "America/Los_Angeles"),
    ("1629", "America/Chicago"), ("1630", "America/Chicago"), ("1631", "America/New_York"),
    ("1636", "America/Chicago"), ("1639", "America/Regina"), ("1640", "America/New_York"),
    ("1641", "America/Chicago"), ("1645", "America/New_York"), ("1646", "America/New_York"),
    ("1647", "America/Toronto"), ("1650", "America/Los_Angeles"), ("1651", "America/Chicago"),
    ("1656", "America/New_York"), ("1657", "America/Los_Angeles"), ("1659", "America/Chicago"),
    ("1660", "America/Chicago"), ("1661", "America/Los_Angeles"), ("1662", "America/Chicago"),
    ("1667", "America/New_York"), ("1669", "America/Los_Angeles"), ("1672", "America/Vancouver"),
    ("1678", "America/New_York"), ("1680", "America/New_York"), ("1681", "America/New_York"),
    ("1682", "America/Chicago"), ("1683", "America/Toronto"), ("1686", "America/New_York"),
    ("1689", "America/New_York"), ("1701", "America/Chicago"), ("1702", "America/Los_Angeles"),
    ("1703", "America/New_York"), ("1704", "America/New_York"), ("1705", "America/Toronto"),
    ("1706", "America/New_York"), ("1707", "America/Los_Angeles"), ("1708", "America/Chicago"),
    ("1709", "America/St_Johns"), ("1712", "America/Chicago"), ("1714", "America/Los_Angeles"),
    ("1715", "America/Chicago"), ("1716", "America/New_York"), ("1717", "America/New_York"),
    ("1719", "America/Denver"), ("1720", "America/Denver"), ("1724", "America/New_York"),
    ("1725", "America/Los_Angeles"), ("1726", "America/Chicago"), ("1727", "America/New_York"),
    ("1728", "America/New_York"), ("1730", "America/Chicago"), ("1731", "America/Chicago"),
    ("1732", "America/New_York"), ("1734", "America/New_York"), ("1737", "America/Chicago"),
    ("1738", "America/Los_Angeles"), ("1740", "America/New_York"), ("1742", "America/Toronto"),
    ("1743", "America/New_York"), ("1747", "America/Los_Angeles"), ("1748", "America/Denver"),
    ("1753", "America/Toronto"), ("1754", "America/New_York"), ("1757", "America/New_York"),
    ("1760", "America/Los_Angeles"), ("1762", "America/New_York"), ("1763", "America/Chicago"),
    ("1765", "America/New_York"), ("1769", "America/Chicago"), ("1770", "America/New_York"),
    ("1771", "America/New_York"), ("1772", "America/New_York"), ("1773", "America/Chicago"),
    ("1774", "America/New_York"), ("1775", "America/Los_Angeles"), ("1778", "America/Vancouver"),
    ("1779", "America/Chicago"), ("1780", "America/Edmonton"), ("1781", "America/New_York"),
    ("1782", "America/Halifax"), ("1785", "America/Chicago"), ("1786", "America/New_York"),
    ("1801", "America/Denver"), ("1802", "America/New_York"), ("1803", "America/New_York"),
    ("1804", "America/New_York"), ("1805", "America/Los_Angeles"), ("1806", "America/Chicago"),
    ("1807", "America/Toronto"), ("1808", "Pacific/Honolulu"), ("1810", "America/New_York"),
    ("1812", "America/New_York"), ("1813", "America/New_York"), ("1814", "America/New_York"),
    ("1815", "America/Chicago"), ("1816", "America/Chicago"), ("1817", "America/Chicago"),
    ("1818", "America/Los_Angeles"), ("1819", "America/Toronto"), ("1820", "America/Los_Angeles"),
    ("1821", "America/New_York"), ("1825", "America/Edmonton"), ("1826", "America/New_York"),
    ("1828", "America/New_York"), ("1830", "America/Chicago"), ("1831", "America/Los_Angeles"),
    ("1832", "America/Chicago"), ("1835", "America/New_York"), ("1838", "America/New_York"),
    ("1839", "America/New_York"), ("1840", "America/Los_Angeles"), ("1843", "America/New_York"),
    ("1845", "America/New_York"), ("1847", "America/Chicago"), ("1848", "America/New_York"),
    ("1850", "America/Chicago"), ("1854", "America/New_York"), ("1856", "America/New_York"),
    ("1857", "America/New_York"), ("1858", "America/Los_Angeles"), ("1859", "America/New_York"),
    ("1860", "America/New_York"), ("1862", "America/New_York"), ("1863", "America/New_York"),
    ("1864", "America/New_York"), ("1865", "America/New_York"), ("1867", "America/Edmonton"),
    ("1870", "America/Chicago"), ("1872", "America/Chicago"), ("1873", "America/Toronto"),
    ("1878", "America/New_York"), ("1879", "America/St_Johns"), ("1901", "America/Chicago"),
    ("1902", "America/Halifax"), ("1903", "America/Chicago"), ("1904", "America/New_York"),
    ("1906", "America/New_York"), ("1907", "America/Anchorage"), ("1908", "America/New_York"),
    ("1909", "America/Los_Angeles"), ("1910", "America/New_York"), ("1912", "America/New_York"),
    ("1913", "America/Chicago"), ("1914", "America/New_York"), ("1915", "America/Denver"),
    ("1916", "America/Los_Angeles"), ("1917", "America/New_York"), ("1918", "America/Chicago"),
    ("1919", "America/New_York"), ("1920", "America/Chicago"), ("1925", "America/Los_Angeles"),
    ("1928", "America/Phoenix"), ("1929", "America/New_York"), ("1930", "America/New_York"),
    ("1931", "America/Chicago"), ("1934", "America/New_York"), ("1936", "America/Chicago"),
    ("1937", "America/New_York"), ("1938", "America/Chicago"), ("1940", "America/Chicago"),
    ("1941", "America/New_York"), ("1942", "America/Toronto"), ("1943", "America/New_York"),
    ("1945", "America/Chicago"), ("1947", "America/New_York"), ("1948", "America/New_York"),
    ("1949", "America/Los_Angeles"), ("1951", "America/Los_Angeles"), ("1952", "America/Chicago"),
    ("1954", "America/New_York"), ("1956", "America/Chicago"), ("1959", "America/New_York"),
    ("1970", "America/Denver"), ("1971", "America/Los_Angeles"), ("1972", "America/Chicago"),
    ("1973", "America/New_York"), ("1975", "America/Chicago"), ("1978", "America/New_York"),
    ("1979", "America/Chicago"), ("1980", "America/New_York"), ("1983", "America/Denver"),
    ("1984", "America/New_York"), ("1985", "America/Chicago"), ("1986", "America/Boise"),
    ("1989", "America/New_York"), ("52612", "America/Mazatlan"), ("52622", "America/Hermosillo"),
    ("52624", "America/Mazatlan"), ("52631", "America/Hermosillo"), ("52644", "America/Hermosillo"),
    ("52646", "America/Tijuana"), ("52653", "America/Hermosillo"),
    ("52656", "America/Ciudad_Juarez"), ("52661", "America/Tijuana"),
    ("52662", "America/Hermosillo"), ("52664", "America/Tijuana"), ("52665", "America/Tijuana"),
    ("52667", "America/Mazatlan"), ("52669", "America/Mazatlan"), ("52686", "America/Tijuana"),
    ("52983", "America/Cancun"), ("52984", "America/Cancun"), ("52987", "America/Cancun"),
    ("52998", "America/Cancun"), ("5565", "America/Manaus"), ("5566", "America/Manaus"),
    ("5567", "America/Manaus"), ("5568", "America/Rio_Branco"), ("5569", "America/Manaus"),
    ("5592", "America/Manaus"), ("5595", "America/Manaus"), ("5597", "America/Manaus"),
    ("612", "Australia/Sydney"), ("613", "Australia/Melbourne"), ("617", "Australia/Brisbane"),
    ("618", "Australia/Adelaide"), ("6186", "Australia/Perth"), ("61889", "Australia/Darwin"),
    ("6189", "Australia/Perth"),
];

/// The number's zone: its region's ([`REGIONS`]), else its country's ([`COUNTRIES`]), else UTC
/// for a country in neither.
pub fn of(to: &PhoneNumber) -> &'static TimeZone {
    name_of(to).and_then(zone).unwrap_or(&UTC)
}

static UTC: TimeZone = TimeZone::UTC;

/// The IANA name of the number's zone (`None`: UTC, the country is in no table).
pub fn name_of(to: &PhoneNumber) -> Option<&'static str> {
    let digits = to.digits();
    (1..=digits.len().min(LONGEST_PREFIX))
        .rev()
        .find_map(|len| lookup(REGIONS, digits.get(..len)?))
        .or_else(|| lookup(COUNTRIES, to.region()?))
        .copied()
}

const LONGEST_PREFIX: usize = 5;

fn zone(name: &str) -> Option<&'static TimeZone> {
    let name = lookup(SAME_CLOCK, name).copied().unwrap_or(name);
    lookup(ZONES, name)
}

/// The value of `key` in a table sorted by key (every table here is; a test checks it).
fn lookup<T>(table: &'static [(&'static str, T)], key: &str) -> Option<&'static T> {
    table
        .binary_search_by(|(k, _)| (*k).cmp(key))
        .ok()
        .map(|i| &table[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(number: &str) -> Option<&'static str> {
        name_of(&PhoneNumber::parse(number).unwrap())
    }

    /// Every zone the tables name, with its own rules (the test binary only).
    #[rustfmt::skip]
    static EVERY: &[(&str, TimeZone)] = &[
        ("Africa/Cairo", tz::get!("Africa/Cairo")),
        ("Africa/Casablanca", tz::get!("Africa/Casablanca")),
        ("Africa/Johannesburg", tz::get!("Africa/Johannesburg")),
        ("Africa/Lagos", tz::get!("Africa/Lagos")),
        ("Africa/Nairobi", tz::get!("Africa/Nairobi")),
        ("America/Anchorage", tz::get!("America/Anchorage")),
        ("America/Argentina/Buenos_Aires", tz::get!("America/Argentina/Buenos_Aires")),
        ("America/Bogota", tz::get!("America/Bogota")),
        ("America/Boise", tz::get!("America/Boise")),
        ("America/Cancun", tz::get!("America/Cancun")),
        ("America/Caracas", tz::get!("America/Caracas")),
        ("America/Chicago", tz::get!("America/Chicago")),
        ("America/Ciudad_Juarez", tz::get!("America/Ciudad_Juarez")),
        ("America/Denver", tz::get!("America/Denver")),
        ("America/Edmonton", tz::get!("America/Edmonton")),
        ("America/Halifax", tz::get!("America/Halifax")),
        ("America/Hermosillo", tz::get!("America/Hermosillo")),
        ("America/Lima", tz::get!("America/Lima")),
        ("America/Los_Angeles", tz::get!("America/Los_Angeles")),
        ("America/Manaus", tz::get!("America/Manaus")),
        ("America/Mazatlan", tz::get!("America/Mazatlan")),
        ("America/Mexico_City", tz::get!("America/Mexico_City")),
        ("America/New_York", tz::get!("America/New_York")),
        ("America/Phoenix", tz::get!("America/Phoenix")),
        ("America/Regina", tz::get!("America/Regina")),
        ("America/Rio_Branco", tz::get!("America/Rio_Branco")),
        ("America/Santiago", tz::get!("America/Santiago")),
        ("America/Sao_Paulo", tz::get!("America/Sao_Paulo")),
        ("America/St_Johns", tz::get!("America/St_Johns")),
        ("America/Tijuana", tz::get!("America/Tijuana")),
        ("America/Toronto", tz::get!("America/Toronto")),
        ("America/Vancouver", tz::get!("America/Vancouver")),
        ("America/Winnipeg", tz::get!("America/Winnipeg")),
        ("Asia/Almaty", tz::get!("Asia/Almaty")),
        ("Asia/Amman", tz::get!("Asia/Amman")),
        ("Asia/Ashgabat", tz::get!("Asia/Ashgabat")),
        ("Asia/Baghdad", tz::get!("Asia/Baghdad")),
        ("Asia/Bahrain", tz::get!("Asia/Bahrain")),
        ("Asia/Baku", tz::get!("Asia/Baku")),
        ("Asia/Bangkok", tz::get!("Asia/Bangkok")),
        ("Asia/Beirut", tz::get!("Asia/Beirut")),
        ("Asia/Bishkek", tz::get!("Asia/Bishkek")),
        ("Asia/Colombo", tz::get!("Asia/Colombo")),
        ("Asia/Damascus", tz::get!("Asia/Damascus")),
        ("Asia/Dhaka", tz::get!("Asia/Dhaka")),
        ("Asia/Dubai", tz::get!("Asia/Dubai")),
        ("Asia/Dushanbe", tz::get!("Asia/Dushanbe")),
        ("Asia/Ho_Chi_Minh", tz::get!("Asia/Ho_Chi_Minh")),
        ("Asia/Hong_Kong", tz::get!("Asia/Hong_Kong")),
        ("Asia/Jakarta", tz::get!("Asia/Jakarta")),
        ("Asia/Jerusalem", tz::get!("Asia/Jerusalem")),
        ("Asia/Kabul", tz::get!("Asia/Kabul")),
        ("Asia/Karachi", tz::get!("Asia/Karachi")),
        ("Asia/Kathmandu", tz::get!("Asia/Kathmandu")),
        ("Asia/Kolkata", tz::get!("Asia/Kolkata")),
        ("Asia/Kuala_Lumpur", tz::get!("Asia/Kuala_Lumpur")),
        ("Asia/Kuwait", tz::get!("Asia/Kuwait")),
        ("Asia/Manila", tz::get!("Asia/Manila")),
        ("Asia/Muscat", tz::get!("Asia/Muscat")),
        ("Asia/Nicosia", tz::get!("Asia/Nicosia")),
        ("Asia/Phnom_Penh", tz::get!("Asia/Phnom_Penh")),
        ("Asia/Qatar", tz::get!("Asia/Qatar")),
        ("Asia/Riyadh", tz::get!("Asia/Riyadh")),
        ("Asia/Seoul", tz::get!("Asia/Seoul")),
        ("Asia/Shanghai", tz::get!("Asia/Shanghai")),
        ("Asia/Singapore", tz::get!("Asia/Singapore")),
        ("Asia/Taipei", tz::get!("Asia/Taipei")),
        ("Asia/Tashkent", tz::get!("Asia/Tashkent")),
        ("Asia/Tbilisi", tz::get!("Asia/Tbilisi")),
        ("Asia/Tehran", tz::get!("Asia/Tehran")),
        ("Asia/Tokyo", tz::get!("Asia/Tokyo")),
        ("Asia/Vientiane", tz::get!("Asia/Vientiane")),
        ("Asia/Yangon", tz::get!("Asia/Yangon")),
        ("Asia/Yerevan", tz::get!("Asia/Yerevan")),
        ("Australia/Adelaide", tz::get!("Australia/Adelaide")),
        ("Australia/Brisbane", tz::get!("Australia/Brisbane")),
        ("Australia/Darwin", tz::get!("Australia/Darwin")),
        ("Australia/Melbourne", tz::get!("Australia/Melbourne")),
        ("Australia/Perth", tz::get!("Australia/Perth")),
        ("Australia/Sydney", tz::get!("Australia/Sydney")),
        ("Europe/Amsterdam", tz::get!("Europe/Amsterdam")),
        ("Europe/Athens", tz::get!("Europe/Athens")),
        ("Europe/Belgrade", tz::get!("Europe/Belgrade")),
        ("Europe/Berlin", tz::get!("Europe/Berlin")),
        ("Europe/Bratislava", tz::get!("Europe/Bratislava")),
        ("Europe/Brussels", tz::get!("Europe/Brussels")),
        ("Europe/Bucharest", tz::get!("Europe/Bucharest")),
        ("Europe/Budapest", tz::get!("Europe/Budapest")),
        ("Europe/Chisinau", tz::get!("Europe/Chisinau")),
        ("Europe/Copenhagen", tz::get!("Europe/Copenhagen")),
        ("Europe/Dublin", tz::get!("Europe/Dublin")),
        ("Europe/Helsinki", tz::get!("Europe/Helsinki")),
        ("Europe/Istanbul", tz::get!("Europe/Istanbul")),
        ("Europe/Kyiv", tz::get!("Europe/Kyiv")),
        ("Europe/Lisbon", tz::get!("Europe/Lisbon")),
        ("Europe/Ljubljana", tz::get!("Europe/Ljubljana")),
        ("Europe/London", tz::get!("Europe/London")),
        ("Europe/Luxembourg", tz::get!("Europe/Luxembourg")),
        ("Europe/Madrid", tz::get!("Europe/Madrid")),
        ("Europe/Malta", tz::get!("Europe/Malta")),
        ("Europe/Minsk", tz::get!("Europe/Minsk")),
        ("Europe/Moscow", tz::get!("Europe/Moscow")),
        ("Europe/Oslo", tz::get!("Europe/Oslo")),
        ("Europe/Paris", tz::get!("Europe/Paris")),
        ("Europe/Podgorica", tz::get!("Europe/Podgorica")),
        ("Europe/Prague", tz::get!("Europe/Prague")),
        ("Europe/Riga", tz::get!("Europe/Riga")),
        ("Europe/Rome", tz::get!("Europe/Rome")),
        ("Europe/Sarajevo", tz::get!("Europe/Sarajevo")),
        ("Europe/Skopje", tz::get!("Europe/Skopje")),
        ("Europe/Sofia", tz::get!("Europe/Sofia")),
        ("Europe/Stockholm", tz::get!("Europe/Stockholm")),
        ("Europe/Tallinn", tz::get!("Europe/Tallinn")),
        ("Europe/Tirane", tz::get!("Europe/Tirane")),
        ("Europe/Vienna", tz::get!("Europe/Vienna")),
        ("Europe/Vilnius", tz::get!("Europe/Vilnius")),
        ("Europe/Warsaw", tz::get!("Europe/Warsaw")),
        ("Europe/Zagreb", tz::get!("Europe/Zagreb")),
        ("Europe/Zurich", tz::get!("Europe/Zurich")),
        ("Pacific/Auckland", tz::get!("Pacific/Auckland")),
        ("Pacific/Honolulu", tz::get!("Pacific/Honolulu")),
    ];
    #[test]
    fn zones_sharing_a_clock_agree_hour_by_hour_for_ten_years() {
        assert!(SAME_CLOCK.windows(2).all(|w| w[0].0 < w[1].0));
        // 2026-01-01T00:00:00Z, then every hour for ten years.
        let start = 1_767_225_600_i64;
        for (name, own) in EVERY {
            let shared = zone(name).unwrap_or_else(|| panic!("{name} has no zone"));
            for hour in 0..24 * 3653 {
                let at = jiff::Timestamp::from_second(start + hour * 3600).unwrap();
                assert_eq!(
                    own.to_offset(at),
                    shared.to_offset(at),
                    "{name} and {:?} differ at {at}",
                    shared.iana_name()
                );
            }
        }
        // Every zone the tables name is one of these.
        for (_, name) in COUNTRIES.iter().chain(REGIONS) {
            assert!(EVERY.iter().any(|(n, _)| n == name), "{name}");
        }
    }

    #[test]
    fn the_tables_are_sorted_unique_and_every_name_is_embedded() {
        assert!(ZONES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(REGIONS.windows(2).all(|w| w[0].0 < w[1].0));
        for (_, name) in COUNTRIES.iter().chain(REGIONS) {
            assert!(zone(name).is_some(), "{name} is not in ZONES");
        }
        for (name, tz) in ZONES {
            assert_eq!(tz.iana_name(), Some(*name));
        }
        assert!(REGIONS.iter().all(|(p, _)| p.len() <= LONGEST_PREFIX));
    }

    #[test]
    fn a_region_prefix_belongs_to_a_country_with_several_zones() {
        // A prefix must never capture another country's numbers (+1 is shared by the US,
        // Canada and the Caribbean): each names the US, Canada, Brazil, Australia or Mexico.
        for (prefix, _) in REGIONS {
            let country = match &prefix[..1] {
                "1" => "1",
                _ => &prefix[..2],
            };
            assert!(["1", "55", "61", "52"].contains(&country), "{prefix}");
        }
    }

    #[test]
    fn the_zone_comes_from_the_country_or_the_numbers_region() {
        assert_eq!(name("+380501234567"), Some("Europe/Kyiv"));
        assert_eq!(name("+447400123456"), Some("Europe/London"));
        // 7911 is Guernsey's: London's clock too.
        assert_eq!(name("+447911123456"), Some("Europe/London"));
        // +7 701 is Kazakhstan, +7 9xx Russia.
        assert_eq!(name("+77011234567"), Some("Asia/Almaty"));
        assert_eq!(name("+79161234567"), Some("Europe/Moscow"));
        // The US and Canada by area code.
        assert_eq!(name("+12125550123"), Some("America/New_York"));
        assert_eq!(name("+13125550123"), Some("America/Chicago"));
        assert_eq!(name("+14155550123"), Some("America/Los_Angeles"));
        assert_eq!(name("+16025550123"), Some("America/Phoenix"));
        assert_eq!(name("+19155550123"), Some("America/Denver"));
        assert_eq!(name("+16045550123"), Some("America/Vancouver"));
        assert_eq!(name("+14165550123"), Some("America/Toronto"));
        // Brazil by DDD (Manaus, mobile), Australia by geographic code (mobiles: the country's).
        assert_eq!(name("+5592991234567"), Some("America/Manaus"));
        assert_eq!(name("+5511991234567"), Some("America/Sao_Paulo"));
        assert_eq!(name("+61892345678"), Some("Australia/Perth"));
        assert_eq!(name("+61889123456"), Some("Australia/Darwin"));
        assert_eq!(name("+61412345678"), Some("Australia/Sydney"));
        // A country in no table: UTC.
        assert_eq!(name("+23052512345"), None);
        assert_eq!(
            of(&PhoneNumber::parse("+23052512345").unwrap()),
            &TimeZone::UTC
        );
    }
}
