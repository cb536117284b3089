import GRDB
import GRDBSQLite

/// A cached statement run with its values bound through SQLite's C API, for the writer's per-row statements (a log
/// row, a state and a history sample per message): GRDB's `execute(arguments:)` boxes every value in an existential
/// array and copies blobs into `Data`, which cost more than SQLite's own work on those rows.
///
/// Only for statements nothing else binds: GRDB rebinds on its own next use, but a statement run through here is
/// left reset with these values bound.
struct BoundStatement: ~Copyable {
    private let handle: OpaquePointer
    private let db: Database
    private let sql: String

    init(_ db: Database, sql: String) throws {
        let statement = try db.cachedStatement(sql: sql)
        self.handle = statement.sqliteStatement
        self.db = db
        self.sql = sql
    }

    /// SQLite copies the value before the call returns (the buffers here do not outlive it).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func bind(_ index: Int32, _ text: String) throws {
        var text = text
        try text.withUTF8 { try bindText(index, UnsafeRawBufferPointer($0)) }
    }

    /// UTF-8 bytes bound as TEXT (a JSON document serialized once for the broker and the store).
    func bind(_ index: Int32, utf8: [UInt8]) throws {
        try utf8.withUnsafeBytes { try bindText(index, $0) }
    }

    private func bindText(_ index: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        if let base = bytes.baseAddress {
            try check(sqlite3_bind_text(handle, index, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), Self.transient))
        } else {
            try check(sqlite3_bind_text(handle, index, "", 0, Self.transient))
        }
    }

    func bind(_ index: Int32, blob: [UInt8]) throws {
        try blob.withUnsafeBytes { bytes in
            // A zero-length blob, not NULL, for an empty payload.
            try check(sqlite3_bind_blob(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), Self.transient))
        }
    }

    func bind(_ index: Int32, _ value: Int64) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ index: Int32, _ value: Double) throws {
        try check(sqlite3_bind_double(handle, index, value))
    }

    func bind(_ index: Int32, _ value: String?) throws {
        if let value { try bind(index, value) } else { try check(sqlite3_bind_null(handle, index)) }
    }

    func bind(_ index: Int32, _ value: Int64?) throws {
        if let value { try bind(index, value) } else { try check(sqlite3_bind_null(handle, index)) }
    }

    /// A refused bind throws rather than leaving the previous row's value in place.
    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot bind a value", sql: sql)
        }
    }

    /// Steps the statement to its end and resets it; a failure throws SQLite's error for this statement.
    func run() throws {
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_DONE else {
            let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
        }
    }
}
