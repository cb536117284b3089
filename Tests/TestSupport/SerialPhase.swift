import Foundation
import Testing

extension Trait where Self == ConditionTrait {
    /// Runs only in scripts/test's one-at-a-time phase (`MQTT_HOME_SERIAL=1`): suites whose load (Python clients, a
    /// real Home Assistant, floods, replays of tens of thousands of messages) would starve the time-limited tests
    /// running beside them in the parallel phase.
    public static var serialPhase: Self {
        .enabled(if: ProcessInfo.processInfo.environment["MQTT_HOME_SERIAL"] == "1")
    }
}
