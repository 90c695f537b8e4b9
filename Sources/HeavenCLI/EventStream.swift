import Foundation
import HeavenAPI
import HeavenCore
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Follows a run's server-sent events as they come (a data delegate: Foundation on
/// Linux has no streaming `bytes`), keeping what a progress display needs: the attempts
/// running, the task instances done, the attempts that failed and were retried.
final class EventStream: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `buffer` is touched by the session's serial delegate queue only; the
    // rest is behind its mutex.
    struct Progress {
        /// The attempts running, by task key and attempt: their task and start.
        var running: [String: (task: String, since: Date)] = [:]
        var done = 0
        var retried = 0
        var ended = false
        var seen = false
    }

    let progress = Mutex(Progress())
    private var buffer = Data()
    private var session: URLSession?

    /// Starts following `url` with the bearer `token`.
    func start(_ url: URL, token: String) {
        var request = URLRequest(url: url)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        request.timeoutInterval = 3600
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: .default, delegate: self, delegateQueue: queue)
        self.session = session
        session.dataTask(with: request).resume()
    }

    func stop() { session?.invalidateAndCancel() }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        buffer.append(data)
        let separator = Data("\n\n".utf8)
        while let range = buffer.range(of: separator) {
            let block = String(decoding: buffer[buffer.startIndex..<range.lowerBound], as: UTF8.self)
            buffer.removeSubrange(buffer.startIndex..<range.upperBound)
            guard let line = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }),
                let e = try? APICoding.decoder.decode(EventView.self, from: Data(line.dropFirst(6).utf8))
            else { continue }
            apply(e)
        }
    }

    /// No redirect is followed: it would carry the bearer token to wherever it points.
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        progress.withLock { $0.ended = true }
    }

    /// What an event changes in the progress.
    func apply(_ e: EventView) {
        progress.withLock { p in
            p.seen = true
            guard let task = e.task, let attempt = e.attempt else { return }
            let key = "\(task)#\(attempt)"
            switch e.kind {
            case .taskStarted: p.running[key] = (task, e.at)
            case .taskEnded:
                p.running.removeValue(forKey: key)
                switch e.status {
                case .succeeded?: p.done += 1
                case .failed?, .timedOut?: p.retried += 1
                default: break
                }
            default: break
            }
        }
    }
}
