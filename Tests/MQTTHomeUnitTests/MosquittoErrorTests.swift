import CMosquitto
import Mosquitto
import Testing

@Suite("MosquittoError messages")
struct MosquittoErrorTests {
    @Test("MOSQ_ERR_* codes read as libmosquitto's own words")
    func libraryCodes() {
        #expect(MosquittoError(code: Int32(MOSQ_ERR_NO_CONN.rawValue)).description == "The client is not currently connected.")
        #expect(MosquittoError(code: Int32(MOSQ_ERR_INVAL.rawValue)).description == "Invalid function arguments provided.")
        // The one libmosquitto 2.0.11 calls "Unknown error.".
        #expect(MosquittoError(code: Int32(MOSQ_ERR_KEEPALIVE.rawValue)).description.contains("keepalive interval"))
    }

    @Test("CONNACK refusals are worded per protocol and flagged as authentication failures")
    func refusals() {
        let v5 = MosquittoError.refused(reasonCode: 0x86, protocolVersion: .v5)
        #expect(v5.description.lowercased().contains("bad user name or password"))
        #expect(v5.isAuthenticationFailure)
        let v311 = MosquittoError.refused(reasonCode: 5, protocolVersion: .v311)
        #expect(v311.description.lowercased().contains("not authori"))
        #expect(v311.isAuthenticationFailure)
        #expect(!MosquittoError.refused(reasonCode: 0x88, protocolVersion: .v5).isAuthenticationFailure)
    }
}
