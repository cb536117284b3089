import MQTTHome
import Mosquitto

extension MessageCollector {
    /// Plays devices that confirm their commands: every message received on `<topic>/set` is published back on
    /// `<topic>`, until the task is cancelled.
    public func echoingCommands() -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                let received = messages
                if received.isEmpty {
                    try? await Task.sleep(for: .milliseconds(5))
                    continue
                }
                clear()
                for message in received where message.topic.hasSuffix("/set") {
                    _ = try? client.publish(String(message.topic.dropLast(4)), payload: message.payload)
                }
            }
        }
    }
}
