import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Where the server may send requests of its own (files an execute request names by
/// `href`, callbacks to subscribers): only `http`/`https` URLs to hosts the operator
/// allowed (`heaven serve --fetch-allow HOST[:PORT]`), redirects included; never a
/// file, never another scheme. The server must not become a way into the network it
/// sits in.
struct Outbound: Sendable {
    /// Allowed hosts (lowercased), each `host` (any port) or `host:port`.
    let hosts: Set<String>
    /// The largest file fetched, in bytes.
    let limit: Int

    /// Why the server will not send a request to `url`, or nil when it may.
    func refusal(_ url: URL?) -> String? {
        guard let url, let scheme = url.scheme?.lowercased() else { return "not a URL" }
        guard scheme == "http" || scheme == "https" else {
            return "only http and https URLs are fetched, not \(scheme):"
        }
        guard let host = url.host?.lowercased(), !host.isEmpty else { return "the URL names no host" }
        if url.user != nil || url.password != nil { return "a URL with credentials is not fetched" }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        if hosts.contains(host) || hosts.contains("\(host):\(port)") { return nil }
        return hosts.isEmpty
            ? "this server fetches from no host (its operator allows none: `heaven serve --fetch-allow HOST`)"
            : "host `\(host)` is not one this server fetches from (allowed: \(hosts.sorted().joined(separator: ", ")))"
    }

    /// Fetches `url` into the file at `path` (created), refusing what `refusal` refuses,
    /// redirects to such places, answers other than 200, and bodies over `limit`.
    func fetch(_ url: URL, to path: String) async throws {
        if let why = refusal(url) { throw OutboundError(why) }
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644]),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw OutboundError("cannot create a file for \(url.absoluteString)") }
        defer { try? handle.close() }
        let download = Download(outbound: self, handle: handle)
        try await download.run(url)
    }

    /// Sends a JSON body to `url` (a callback), with the same rules; an error when it
    /// is refused, cannot be sent, or is not answered with a 2xx.
    func post(_ body: Data, to url: URL) async throws {
        if let why = refusal(url) { throw OutboundError(why) }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.timeoutInterval = 30
        let download = Download(outbound: self, handle: nil)
        try await download.run(request)
    }
}

struct OutboundError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One request's delegate: the body into a file (counted), redirects checked.
private final class Download: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: the session calls the delegate on its serial queue; `state` is behind a mutex.
    let outbound: Outbound
    let handle: FileHandle?
    private struct State {
        var written = 0
        var failure: String?
        var continuation: CheckedContinuation<Void, any Error>?
    }
    private let state = Mutex(State())

    init(outbound: Outbound, handle: FileHandle?) {
        self.outbound = outbound
        self.handle = handle
    }

    func run(_ url: URL) async throws {
        var request = URLRequest(url: url)
        request.timeoutInterval = 60
        try await run(request)
    }

    func run(_ request: URLRequest) async throws {
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForResource = 900
        configuration.connectionProxyDictionary = [:]
        let session = URLSession(configuration: configuration, delegate: self, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            state.withLock { $0.continuation = c }
            session.dataTask(with: request).resume()
        }
    }

    private func fail(_ why: String, _ task: URLSessionTask) {
        state.withLock { if $0.failure == nil { $0.failure = why } }
        task.cancel()
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        if let why = outbound.refusal(request.url) {
            state.withLock { if $0.failure == nil { $0.failure = "redirected elsewhere: \(why)" } }
            completionHandler(nil)
        } else {
            completionHandler(request)
        }
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if state.withLock({ $0.failure }) != nil {
            completionHandler(.cancel)
        } else if handle != nil, status != 200 {
            state.withLock { $0.failure = "the server answered HTTP \(status)" }
            completionHandler(.cancel)
        } else if handle == nil, !(200..<300).contains(status) {
            state.withLock { $0.failure = "the subscriber answered HTTP \(status)" }
            completionHandler(.cancel)
        } else if response.expectedContentLength > Int64(outbound.limit) {
            state.withLock {
                $0.failure = "the file is \(response.expectedContentLength) bytes, over the limit of \(outbound.limit)"
            }
            completionHandler(.cancel)
        } else {
            completionHandler(.allow)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let handle else { return }
        let total = state.withLock { s -> Int in
            s.written += data.count
            return s.written
        }
        if total > outbound.limit {
            fail("the file is over the limit of \(outbound.limit) bytes", dataTask)
            return
        }
        do { try handle.write(contentsOf: data) } catch { fail("cannot write the file: \(error)", dataTask) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (c, failure) = state.withLock { s in
            let c = s.continuation
            s.continuation = nil
            return (c, s.failure)
        }
        if let failure {
            c?.resume(throwing: OutboundError(failure))
        } else if let error {
            c?.resume(throwing: OutboundError("\(error.localizedDescription)"))
        } else {
            c?.resume()
        }
    }
}
