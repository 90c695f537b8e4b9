public import Foundation

// The documents of OGC API - Processes - Part 1: Core 1.0 (and Part 2's deploy), as
// typed bodies: the server encodes them, the command line decodes them, the OpenAPI
// document describes them. Their keys are the standard's.

/// The standard's URIs.
public enum OGC {
    /// The conformance classes Heaven declares at `/conformance`.
    public static let conformance = [
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/html",
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/callback",
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
        "http://www.opengis.net/spec/ogcapi-processes-2/1.0/conf/deploy-replace-undeploy",
    ]

    /// The exception types (`type` of a problem document).
    public enum Exception {
        static let base = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
        public static let noSuchProcess = base + "no-such-process"
        public static let noSuchJob = base + "no-such-job"
        public static let resultNotReady = base + "result-not-ready"
        public static let invalidParameterValue = base + "InvalidParameterValue"
        public static let duplicatedProcess =
            "http://www.opengis.net/def/exceptions/ogcapi-processes-2/1.0/duplicated-process"
        public static let unsupportedMediaType =
            "http://www.opengis.net/def/exceptions/ogcapi-processes-2/1.0/unsupported-media-type"
    }

    /// Link relations.
    public enum Rel {
        public static let serviceDesc = "service-desc"
        public static let conformance = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
        public static let processes = "http://www.opengis.net/def/rel/ogc/1.0/processes"
        public static let jobList = "http://www.opengis.net/def/rel/ogc/1.0/job-list"
        public static let execute = "http://www.opengis.net/def/rel/ogc/1.0/execute"
        public static let processDescription = "http://www.opengis.net/def/rel/ogc/1.0/process-desc"
        public static let results = "http://www.opengis.net/def/rel/ogc/1.0/results"
        public static let status = "status"
    }

    /// The media type of the OpenAPI document, exactly as the landing page names it.
    public static let openAPIMediaType = "application/vnd.oai.openapi+json;version=3.0"
}

/// A link (`link.yaml`).
public struct OGCLink: APIObject, Equatable {
    public var href: String
    public var rel: String?
    public var type: String?
    public var title: String?
    public var hreflang: String?

    public init(href: String, rel: String? = nil, type: String? = nil, title: String? = nil, hreflang: String? = nil) {
        self.href = href
        self.rel = rel
        self.type = type
        self.title = title
        self.hreflang = hreflang
    }

    public static let example = OGCLink(href: "/")
    public static let summary: String? = "A link (OGC API)"
}

/// The landing page (`landingPage.yaml`).
public struct LandingPage: APIObject {
    public var title: String?
    public var description: String?
    public var links: [OGCLink]

    public init(title: String?, description: String?, links: [OGCLink]) {
        self.title = title
        self.description = description
        self.links = links
    }

    public static let example = LandingPage(title: nil, description: nil, links: [])
}

/// The conformance declaration (`confClasses.yaml`).
public struct ConformanceClasses: APIObject {
    public var conformsTo: [String]

    public init(conformsTo: [String]) { self.conformsTo = conformsTo }

    public static let example = ConformanceClasses(conformsTo: [])
}

/// How a process may be executed (`jobControlOptions.yaml`).
public enum JobControlOption: String, APIEnum, Codable, Sendable {
    case syncExecute = "sync-execute"
    case asyncExecute = "async-execute"
    case dismiss
}

/// How an output is sent (`transmissionMode.yaml`).
public enum TransmissionMode: String, APIEnum, Codable, Sendable { case value, reference }

/// A process in the list (`processSummary.yaml`); `visibility` and `owner` are Heaven's.
public struct ProcessSummary: APIObject {
    public var id: String
    public var version: String
    public var title: String?
    public var description: String?
    public var keywords: [String]?
    public var jobControlOptions: [JobControlOption]
    public var outputTransmission: [TransmissionMode]
    public var links: [OGCLink]?
    /// Who may see it: `private`, `group:NAME` or `public`.
    public var visibility: String?
    /// Who published it.
    public var owner: String?

    public init(
        id: String, version: String, title: String? = nil, description: String? = nil, keywords: [String]? = nil,
        links: [OGCLink]? = nil, visibility: String? = nil, owner: String? = nil
    ) {
        self.id = id
        self.version = version
        self.title = title
        self.description = description
        self.keywords = keywords
        self.jobControlOptions = JobControlOption.allCases
        self.outputTransmission = TransmissionMode.allCases
        self.links = links
        self.visibility = visibility
        self.owner = owner
    }

    public static let example = ProcessSummary(id: "", version: "")
}

/// An input of a process (`inputDescription.yaml`): its JSON Schema, how many values.
public struct InputDescription: APIObject {
    public var title: String?
    public var description: String?
    public var schema: JSONValue
    public var minOccurs: Int?
    /// An integer, or `unbounded`.
    public var maxOccurs: JSONValue?

    public init(
        title: String?, description: String?, schema: JSONValue, minOccurs: Int? = nil, maxOccurs: JSONValue? = nil
    ) {
        self.title = title
        self.description = description
        self.schema = schema
        self.minOccurs = minOccurs
        self.maxOccurs = maxOccurs
    }

    public static let example = InputDescription(title: nil, description: nil, schema: .null)
}

/// An output of a process (`outputDescription.yaml`).
public struct OutputDescription: APIObject {
    public var title: String?
    public var description: String?
    public var schema: JSONValue

    public init(title: String?, description: String?, schema: JSONValue) {
        self.title = title
        self.description = description
        self.schema = schema
    }

    public static let example = OutputDescription(title: nil, description: nil, schema: .null)
}

/// A process's description (`process.yaml`): its summary, inputs and outputs.
public struct ProcessBody: APIObject {
    public var id: String
    public var version: String
    public var title: String?
    public var description: String?
    public var keywords: [String]?
    public var jobControlOptions: [JobControlOption]
    public var outputTransmission: [TransmissionMode]
    public var links: [OGCLink]?
    public var visibility: String?
    public var owner: String?
    public var inputs: [String: InputDescription]
    public var outputs: [String: OutputDescription]
    /// What a successful job costs (a priced process: a budget is needed to execute it).
    public var price: PriceBody?

    public init(
        summary: ProcessSummary, inputs: [String: InputDescription], outputs: [String: OutputDescription],
        price: PriceBody? = nil
    ) {
        self.price = price
        id = summary.id
        version = summary.version
        title = summary.title
        description = summary.description
        keywords = summary.keywords
        jobControlOptions = summary.jobControlOptions
        outputTransmission = summary.outputTransmission
        links = summary.links
        visibility = summary.visibility
        owner = summary.owner
        self.inputs = inputs
        self.outputs = outputs
    }

    /// Its summary (what the list shows).
    public var summary: ProcessSummary {
        ProcessSummary(
            id: id, version: version, title: title, description: description, keywords: keywords, links: links,
            visibility: visibility, owner: owner)
    }

    public static let example = ProcessBody(summary: .example, inputs: [:], outputs: [:])
}

/// The processes a caller may see (`processList.yaml`), a page at a time (`next` link).
public struct ProcessList: APIObject {
    public var processes: [ProcessSummary]
    public var links: [OGCLink]

    public init(processes: [ProcessSummary], links: [OGCLink]) {
        self.processes = processes
        self.links = links
    }

    public static let example = ProcessList(processes: [], links: [])
}

/// What an output is asked for as (`output.yaml`).
public struct OutputRequest: APIObject {
    public var format: OutputFormat?
    public var transmissionMode: TransmissionMode?

    public init(format: OutputFormat? = nil, transmissionMode: TransmissionMode? = nil) {
        self.format = format
        self.transmissionMode = transmissionMode
    }

    public static let example = OutputRequest()
}

/// A format (`format.yaml`).
public struct OutputFormat: APIObject {
    public var mediaType: String?
    public var encoding: String?
    public var schema: JSONValue?

    public init(mediaType: String? = nil, encoding: String? = nil, schema: JSONValue? = nil) {
        self.mediaType = mediaType
        self.encoding = encoding
        self.schema = schema
    }

    public static let example = OutputFormat()
}

/// Where a job's state is sent (`subscriber.yaml`), each URI to a host the server's
/// administrator allowed.
public struct Subscriber: APIObject {
    public var successUri: String?
    public var inProgressUri: String?
    public var failedUri: String?

    public init(successUri: String? = nil, inProgressUri: String? = nil, failedUri: String? = nil) {
        self.successUri = successUri
        self.inProgressUri = inProgressUri
        self.failedUri = failedUri
    }

    public static let example = Subscriber()
}

/// How results are answered: the raw outputs, or a results document.
public enum ResponseMode: String, APIEnum, Codable, Sendable { case raw, document }

/// An execute request (`execute.yaml`): inputs by name (a value, a qualified value
/// `{value, encoding, mediaType}`, a link `{href}`, or an array of those), the outputs
/// wanted and how, the response's form, and who to call back.
public struct ExecuteRequest: APIObject {
    public var inputs: [String: JSONValue]?
    public var outputs: [String: OutputRequest]?
    public var response: ResponseMode?
    public var subscriber: Subscriber?
    /// For a priced process: the most the job may cost (reserved from the caller's
    /// balance until it ends).
    public var budget: Budget?

    public init(
        inputs: [String: JSONValue]? = nil, outputs: [String: OutputRequest]? = nil, response: ResponseMode? = nil,
        subscriber: Subscriber? = nil, budget: Budget? = nil
    ) {
        self.budget = budget
        self.inputs = inputs
        self.outputs = outputs
        self.response = response
        self.subscriber = subscriber
    }

    public static let example = ExecuteRequest()
}

/// A job's state as OGC API - Processes names it (`statusCode.yaml`).
public enum JobStatus: String, APIEnum, Codable, Sendable {
    case accepted, running, successful, failed, dismissed
}

/// A job's status (`statusInfo.yaml`).
public struct StatusInfo: APIObject {
    public var jobID: String
    public var processID: String?
    public var type: String
    public var status: JobStatus
    public var message: String?
    public var created: Date?
    public var started: Date?
    public var finished: Date?
    public var updated: Date?
    public var progress: Int?
    public var links: [OGCLink]?
    /// A priced job's costs so far (value, resources, fee), and what it used.
    public var costs: JobCosts?
    public var usage: JobUsage?

    public init(
        jobID: String, processID: String?, status: JobStatus, message: String? = nil, created: Date? = nil,
        started: Date? = nil, finished: Date? = nil, updated: Date? = nil, progress: Int? = nil,
        links: [OGCLink]? = nil, costs: JobCosts? = nil, usage: JobUsage? = nil
    ) {
        self.costs = costs
        self.usage = usage
        self.jobID = jobID
        self.processID = processID
        self.type = "process"
        self.status = status
        self.message = message
        self.created = created
        self.started = started
        self.finished = finished
        self.updated = updated
        self.progress = progress
        self.links = links
    }

    public static let example = StatusInfo(jobID: "", processID: nil, status: .accepted)
    public static let constraints: [String: JSONSchema] = [
        "type": .string(values: ["process"]), "progress": .integer(minimum: 0, maximum: 100),
    ]
}

/// The jobs a caller may see (`jobList.yaml`), a page at a time.
public struct JobList: APIObject {
    public var jobs: [StatusInfo]
    public var links: [OGCLink]

    public init(jobs: [StatusInfo], links: [OGCLink]) {
        self.jobs = jobs
        self.links = links
    }

    public static let example = JobList(jobs: [], links: [])
}

/// A job's results (`results.yaml`): by output name, a value, a qualified value
/// (`{value, encoding, mediaType}`), or a link (`{href, type}`).
public struct Results: APIObject {
    public var outputs: [String: JSONValue]

    public init(_ outputs: [String: JSONValue]) { self.outputs = outputs }

    public init(from decoder: any Decoder) throws {
        outputs = try decoder.singleValueContainer().decode([String: JSONValue].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(outputs)
    }

    public static let example = Results([:])
    public static var definition: JSONSchema { .map(.any) }
}
