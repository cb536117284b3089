import CCurl

/// One libcurl easy handle, used by one worker thread for one request at a time.
///
/// Reusing the handle keeps libcurl's connection cache, so successive polls of the same API share a connection.
/// Every pointer handed to libcurl (handle, header list, error buffer, callback context) lives and dies here.
final class CurlTransfer {
    private let curl: CurlLibrary.Functions
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>

    /// Loads libcurl the first time; fails when it cannot be loaded or gives no handle.
    init() throws(CurlError) {
        curl = try CurlLibrary.functions().get()
        guard let handle = curl.easyInit() else { throw .transfer(code: -1, message: "curl_easy_init failed") }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl.easyCleanup(handle)
        errorBuffer.deallocate()
    }

    /// What the callbacks write into; reached from C through `Unmanaged` userdata.
    private final class Sink {
        var body: [UInt8] = []
        var headers: [String: String] = [:]
        let limit: Int
        var exceededLimit = false
        let isCancelled: @Sendable () -> Bool

        init(limit: Int, isCancelled: @escaping @Sendable () -> Bool) {
            self.limit = limit
            self.isCancelled = isCancelled
        }

        func header(_ line: String) {
            if line.hasPrefix("HTTP/") {
                headers = [:]  // a new status line (100 Continue, a proxy): only the last response's headers count
                return
            }
            guard let colon = line.firstIndex(of: ":") else { return }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingWhitespace
            headers[name] = value
        }
    }

    /// Runs one request to completion on the calling (worker) thread.
    func perform(_ request: HTTPRequest, isCancelled: @escaping @Sendable () -> Bool) -> Result<HTTPResponse, CurlError> {
        guard request.url.hasPrefix("http://") || request.url.hasPrefix("https://"), !request.url.utf8.contains(0) else {
            return .failure(.invalidURL(request.url))
        }
        curl.easyReset(handle)
        errorBuffer[0] = 0
        let sink = Sink(limit: request.maxResponseBytes, isCancelled: isCancelled)
        let context = Unmanaged.passRetained(sink)
        defer { context.release() }
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        for header in request.headers {
            headerList = curl.slistAppend(headerList, "\(header.name): \(header.value)")
        }
        defer { curl.slistFreeAll(headerList) }

        _ = mqtthome_curl_setopt_pointer(curl.easySetopt, handle, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = mqtthome_curl_setopt_string(curl.easySetopt, handle, CURLOPT_URL, request.url)
        _ = mqtthome_curl_setopt_string(curl.easySetopt, handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = mqtthome_curl_setopt_long(curl.easySetopt, handle, CURLOPT_NOSIGNAL, 1)
        _ = mqtthome_curl_setopt_long(curl.easySetopt, handle, CURLOPT_HTTPGET, 1)
        _ = mqtthome_curl_setopt_long(curl.easySetopt, handle, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeout.curlMilliseconds)
        _ = mqtthome_curl_setopt_long(curl.easySetopt, handle, CURLOPT_TIMEOUT_MS, request.timeout.curlMilliseconds)
        _ = mqtthome_curl_setopt_string(curl.easySetopt, handle, CURLOPT_USERAGENT, request.userAgent)
        _ = mqtthome_curl_setopt_string(curl.easySetopt, handle, CURLOPT_ACCEPT_ENCODING, "")
        _ = mqtthome_curl_setopt_slist(curl.easySetopt, handle, CURLOPT_HTTPHEADER, headerList)
        if let credentials = request.credentials {
            _ = mqtthome_curl_setopt_long(curl.easySetopt, handle, CURLOPT_HTTPAUTH, mqtthome_curl_auth_basic())
            _ = mqtthome_curl_setopt_string(curl.easySetopt, handle, CURLOPT_USERNAME, credentials.username)
            _ = mqtthome_curl_setopt_string(curl.easySetopt, handle, CURLOPT_PASSWORD, credentials.password)
        }
        let userdata = context.toOpaque()
        _ = mqtthome_curl_setopt_data_callback(curl.easySetopt, handle, CURLOPT_WRITEFUNCTION) { data, size, count, userdata in
            let sink = Unmanaged<Sink>.fromOpaque(userdata!).takeUnretainedValue()
            let length = size * count
            guard sink.body.count + length <= sink.limit else {
                sink.exceededLimit = true
                return 0  // anything but `length` stops the transfer with CURLE_WRITE_ERROR
            }
            if let data, length > 0 {
                data.withMemoryRebound(to: UInt8.self, capacity: length) {
                    sink.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
                }
            }
            return length
        }
        _ = mqtthome_curl_setopt_pointer(curl.easySetopt, handle, CURLOPT_WRITEDATA, userdata)
        _ = mqtthome_curl_setopt_data_callback(curl.easySetopt, handle, CURLOPT_HEADERFUNCTION) { data, size, count, userdata in
            let sink = Unmanaged<Sink>.fromOpaque(userdata!).takeUnretainedValue()
            let length = size * count
            if let data, length > 0 {
                let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                }
                sink.header(line)
            }
            return length
        }
        _ = mqtthome_curl_setopt_pointer(curl.easySetopt, handle, CURLOPT_HEADERDATA, userdata)
        _ = mqtthome_curl_setopt_long(curl.easySetopt, handle, CURLOPT_NOPROGRESS, 0)
        _ = mqtthome_curl_setopt_progress_callback(curl.easySetopt, handle, CURLOPT_XFERINFOFUNCTION) { userdata, _, _, _, _ in
            // Called about once a second while idle and on every chunk: a non-zero answer aborts the transfer.
            Unmanaged<Sink>.fromOpaque(userdata!).takeUnretainedValue().isCancelled() ? 1 : 0
        }
        _ = mqtthome_curl_setopt_pointer(curl.easySetopt, handle, CURLOPT_XFERINFODATA, userdata)

        let code = curl.easyPerform(handle)
        // The handle keeps the callbacks' userdata until the next reset; never let it outlive `sink`.
        _ = mqtthome_curl_setopt_pointer(curl.easySetopt, handle, CURLOPT_WRITEDATA, nil)
        _ = mqtthome_curl_setopt_pointer(curl.easySetopt, handle, CURLOPT_HEADERDATA, nil)
        _ = mqtthome_curl_setopt_pointer(curl.easySetopt, handle, CURLOPT_XFERINFODATA, nil)
        _ = mqtthome_curl_setopt_long(curl.easySetopt, handle, CURLOPT_NOPROGRESS, 1)
        guard code == CURLE_OK else {
            return .failure(error(for: code, sink: sink, request: request))
        }
        var status = 0
        _ = mqtthome_curl_getinfo_long(curl.easyGetinfo, handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, headers: sink.headers, body: sink.body))
    }

    private func error(for code: CURLcode, sink: Sink, request: HTTPRequest) -> CurlError {
        let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : curl.easyStrerror(code).map { String(cString: $0) } ?? "libcurl error"
        switch code {
        case CURLE_OPERATION_TIMEDOUT: return .timedOut(seconds: request.timeout.curlSeconds)
        case CURLE_COULDNT_CONNECT: return .couldNotConnect(detail)
        case CURLE_COULDNT_RESOLVE_HOST: return .couldNotResolve(detail)
        case CURLE_ABORTED_BY_CALLBACK: return .cancelled
        case CURLE_WRITE_ERROR where sink.exceededLimit: return .responseTooLarge(limit: sink.limit)
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT: return .invalidURL(request.url)
        default: return .transfer(code: Int(code.rawValue), message: detail)
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces, tabs and line ends (header lines end in CRLF).
    var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
