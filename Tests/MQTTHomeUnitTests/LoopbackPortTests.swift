import Testing

@testable import MQTTHome

@Suite("Loopback listeners: whose socket listens on the embedded broker's port")
struct LoopbackPortTests {
    // A /proc/net/tcp as the kernel prints it: 127.0.0.1:18831 listening (twice: two processes with SO_REUSEPORT),
    // 0.0.0.0:18831 listening, a connection from that port, 127.0.0.1:1883 listening, 10.0.0.5:18831 listening.
    static let table = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0100007F:498F 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 1530538 1 0000000072ecfaef 100 0 0 10 0
           1: 0100007F:498F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1530539 1 0000000072ecfaf0 100 0 0 10 0
           2: 00000000:498F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000072ecfaf1 100 0 0 10 0
           3: 0100007F:498F 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 1530600 1 0000000072ecfaf2 20 4 30 10 -1
           4: 0100007F:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000072ecfaf3 100 0 0 10 0
           5: 0500000A:498F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000072ecfaf4 100 0 0 10 0
           6: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000072ecfaf5 100 0 0 10 0

        """

    @Test("listening sockets on 127.0.0.1 or 0.0.0.0 at that port count; connections, other ports and addresses do not")
    func parsesTheKernelTable() {
        #expect(LoopbackPort.listeningInodes(inTable: Self.table, port: 18831) == [1_530_538, 1_530_539, 99])
        #expect(LoopbackPort.listeningInodes(inTable: Self.table, port: 1883) == [4242])
        // Short hex ports are zero-padded in the table ("0050"); an inode of 0 (a socket being torn down) is no owner.
        #expect(LoopbackPort.listeningInodes(inTable: Self.table, port: 80).isEmpty)
        #expect(LoopbackPort.listeningInodes(inTable: Self.table, port: 9).isEmpty)
        #expect(LoopbackPort.listeningInodes(inTable: "", port: 18831).isEmpty)
        #expect(LoopbackPort.listeningInodes(inTable: "garbage\n1: x y", port: 18831).isEmpty)
    }
}
