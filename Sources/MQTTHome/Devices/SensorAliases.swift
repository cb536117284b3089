/// The words people and agents use for a measurement, in English and Chinese, mapped to Home Assistant's device
/// classes (and the state keys Zigbee2MQTT, Tasmota and ESPHome use for them), so `sensors/read` finds "温度" on a
/// device whose entity is `temperature` and "PM2.5" on one whose key is `pm25`.
public enum SensorAliases {
    /// A measurement: the HA device classes and state keys that are it, and the words for it.
    struct Group {
        var names: [String]
        var words: [String]
    }

    static let groups: [Group] = [
        Group(names: ["temperature", "temp", "device_temperature"], words: ["温度", "气温", "室温", "température", "temperatur"]),
        Group(names: ["humidity", "hum", "rh", "relative_humidity"], words: ["湿度", "相对湿度"]),
        Group(names: ["illuminance", "illuminance_lux", "lux", "light_level"], words: ["光照", "光照度", "照度", "光强"]),
        Group(names: ["battery", "batt", "battery_level"], words: ["电量", "电池", "电池电量"]),
        Group(names: ["power", "watt", "watts", "active_power"], words: ["功率", "有功功率"]),
        Group(names: ["voltage", "volt", "volts"], words: ["电压"]),
        Group(names: ["current", "amp", "amps", "ampere"], words: ["电流"]),
        Group(names: ["energy", "kwh", "energy_consumption"], words: ["电能", "能耗", "用电量", "电量统计"]),
        Group(names: ["carbon_dioxide", "co2", "eco2"], words: ["二氧化碳", "co₂"]),
        Group(names: ["carbon_monoxide", "co"], words: ["一氧化碳"]),
        Group(names: ["pm25", "pm2_5"], words: ["pm2.5", "细颗粒物"]),
        Group(names: ["pm10"], words: ["pm10", "可吸入颗粒物"]),
        Group(names: ["pressure", "atmospheric_pressure"], words: ["气压", "大气压"]),
        Group(names: ["volatile_organic_compounds", "voc", "tvoc", "volatile_organic_compounds_parts"], words: ["挥发性有机物"]),
        Group(names: ["formaldehyde", "formaldehyd", "hcho"], words: ["甲醛"]),
        Group(names: ["occupancy", "motion", "presence"], words: ["人体", "有人", "人在", "占用", "移动"]),
        Group(names: ["contact", "door", "window", "opening"], words: ["门", "窗", "门窗", "门磁"]),
        Group(names: ["moisture", "water_leak", "leak"], words: ["漏水", "水浸"]),
        Group(names: ["smoke"], words: ["烟雾", "烟感"]),
        Group(names: ["signal_strength", "linkquality", "rssi"], words: ["信号", "信号强度"]),
        Group(names: ["sound_pressure", "noise"], words: ["噪音", "噪声"]),
    ]

    /// Lowercased, with spaces, `-`, `_` and `.` removed, so `PM2.5`, `pm25` and `pm_2_5` compare equal.
    public static func normalized(_ text: String) -> String {
        String(text.lowercased().unicodeScalars.filter { !" -_.".unicodeScalars.contains($0) }.map(Character.init))
    }

    private static let groupOfWord: [String: Int] = {
        var table: [String: Int] = [:]
        for (index, group) in groups.enumerated() {
            for word in group.names + group.words { table[normalized(word)] = index }
        }
        return table
    }()

    /// The measurement a word or key stands for (an index into ``groups``), or nil.
    static func group(of word: String) -> Int? { groupOfWord[normalized(word)] }

    /// The device class or key a word stands for, as the daemon names it (`温度` → `temperature`).
    public static func canonical(_ word: String) -> String? { group(of: word).map { groups[$0].names[0] } }
}
