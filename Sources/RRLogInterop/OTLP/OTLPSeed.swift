import Foundation
public import RRLog

/// The synthetic traffic shapes `rrlog seed` generates.
public enum OTLPSeedPattern: String, Sendable, CaseIterable {
    /// frontend → checkout → inventory, payment (→ its database), shipping; errors at the error rate.
    case basicTopology = "basic-topology"
    /// basic-topology in three phases of equal length: baseline, 75% of payments failing, recovery.
    case paymentFailure = "payment-failure"
    /// a wider fan-out (cart, recommendation, several inventory look-ups) for load tests.
    case highLoad = "high-load"
    /// eleven services behind an API gateway, calls six levels deep, databases and a queue
    /// (orders publishes, notification consumes).
    case complexTopology = "complex-topology"
    /// basic-topology in four phases whose rate and error rate differ: warm-up, steady, spike,
    /// cool-down (`test.phase.N` in the session's annotations).
    case trainingPhases = "training-phases"
}

/// What to generate. The same options always give byte-identical requests: no wall clock, and
/// every random choice comes from `seed`.
public struct OTLPSeedOptions: Sendable {
    public var pattern: OTLPSeedPattern
    /// Length of the generated traffic, seconds.
    public var durationSeconds: Double
    /// Traces started per second.
    public var tracesPerSecond: Double
    /// Share of traces (0...1) ending in an error (outside payment-failure's failure phase).
    public var errorRate: Double
    /// The random seed.
    public var seed: UInt64
    /// The first trace's start, nanoseconds since the epoch (default 2025-01-01T00:00:00Z).
    public var startNs: Int64

    /// 2025-01-01T00:00:00Z in nanoseconds.
    public static let defaultStartNs: Int64 = 1_735_689_600_000_000_000

    public init(
        pattern: OTLPSeedPattern = .basicTopology, durationSeconds: Double = 60, tracesPerSecond: Double = 10,
        errorRate: Double = 0.05, seed: UInt64 = 1, startNs: Int64 = OTLPSeedOptions.defaultStartNs
    ) {
        self.pattern = pattern
        self.durationSeconds = durationSeconds
        self.tracesPerSecond = tracesPerSecond
        self.errorRate = errorRate
        self.seed = seed
        self.startNs = startNs
    }

    /// Checks the ranges: duration > 0 (at most a day), rate > 0 (at most 100,000), error rate 0...1.
    public func validate() throws(RRLogError) {
        guard durationSeconds > 0, durationSeconds <= 86_400 else {
            throw RRLogError(.invalidArgument, "--duration must be more than 0 and at most 86400 seconds")
        }
        guard tracesPerSecond > 0, tracesPerSecond <= 100_000 else {
            throw RRLogError(.invalidArgument, "--rate must be more than 0 and at most 100000 traces per second")
        }
        guard errorRate >= 0, errorRate <= 1 else { throw RRLogError(.invalidArgument, "--error-rate must be between 0 and 1") }
        let traces = OTLPSeedGenerator.plan(self).reduce(0.0) { $0 + ($1.to - $1.from) * $1.rate }
        guard traces <= 5_000_000 else {
            throw RRLogError(.invalidArgument, "at most 5,000,000 traces (duration × rate)")
        }
    }
}

/// Generates synthetic OTLP traces (`rrlog seed`): one traces request per second of traffic,
/// one resource per service.
public enum OTLPSeedGenerator {
    /// The phases of a pattern: (name, start second, end second). One phase for most patterns.
    public static func phases(_ options: OTLPSeedOptions) -> [(name: String, from: Double, to: Double)] {
        let d = options.durationSeconds
        switch options.pattern {
        case .paymentFailure:
            return [("baseline", 0, d / 3), ("payment-failure", d / 3, 2 * d / 3), ("recovery", 2 * d / 3, d)]
        case .trainingPhases:
            return trainingPhases.map { ($0.name, $0.from * d, $0.to * d) }
        case .basicTopology, .highLoad, .complexTopology:
            return [(options.pattern.rawValue, 0, d)]
        }
    }

    /// training-phases: each phase's share of the duration, and its rate and error rate as
    /// multiples of the options' (the error rate at most 1).
    static let trainingPhases: [(name: String, from: Double, to: Double, rate: Double, errors: Double)] = [
        ("warm-up", 0, 0.2, 0.3, 0.5), ("steady", 0.2, 0.6, 1, 1), ("spike", 0.6, 0.8, 3, 4), ("cool-down", 0.8, 1, 0.5, 0.5),
    ]

    /// The stretches of traffic generated one after another: (from, to, traces per second, error
    /// rate). One stretch unless the pattern varies its rate.
    static func plan(_ options: OTLPSeedOptions) -> [(from: Double, to: Double, rate: Double, errorRate: Double)] {
        let d = options.durationSeconds
        guard options.pattern == .trainingPhases else { return [(0, d, options.tracesPerSecond, options.errorRate)] }
        return trainingPhases.map { ($0.from * d, $0.to * d, options.tracesPerSecond * $0.rate, Swift.min(1, options.errorRate * $0.errors)) }
    }

    /// The session annotations describing the generated data: the options and the phases
    /// (`phase.1 = baseline 0s-20s`).
    public static func annotations(_ options: OTLPSeedOptions) -> [String: String] {
        var out: [String: String] = [
            "seed.pattern": options.pattern.rawValue,
            "seed.duration_s": format(options.durationSeconds),
            "seed.rate": format(options.tracesPerSecond),
            "seed.error_rate": format(options.errorRate),
            "seed.seed": String(options.seed),
            "seed.start_ns": String(options.startNs),
            "redaction": "off",
        ]
        for (i, phase) in phases(options).enumerated() {
            out["phase.\(i + 1)"] = "\(phase.name) \(format(phase.from))s-\(format(phase.to))s"
        }
        if options.pattern == .trainingPhases {
            for (i, (phase, stretch)) in zip(phases(options), plan(options)).enumerated() {
                out["test.phase.\(i + 1)"] = "\(phase.name) \(format(phase.from))s-\(format(phase.to))s rate \(format(stretch.rate))/s error_rate \(format(stretch.errorRate))"
            }
        }
        return out
    }

    static func format(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    }

    /// Calls `body` with each generated request, in time order.
    public static func forEachRequest(_ options: OTLPSeedOptions, _ body: (OTLPRequest) throws(RRLogError) -> Void) throws(RRLogError) {
        var rng = SplitMix64(seed: options.seed)
        let phaseList = phases(options)
        var second = -1
        var bySevice: [String: [OTelSpan]] = [:]
        func flush() throws(RRLogError) {
            guard !bySevice.isEmpty else { return }
            var request = TraceServiceRequest()
            for service in serviceOrder where bySevice[service] != nil {
                var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
                resourceSpans.resource.attributes = [
                    attribute("service.name", .stringValue(service)),
                    attribute("service.version", .stringValue("1.0.0")),
                    attribute("deployment.environment", .stringValue("seed")),
                ]
                var scope = Opentelemetry_Proto_Trace_V1_ScopeSpans()
                scope.scope.name = "rrlog.seed"
                scope.scope.version = "1"
                scope.spans = bySevice[service] ?? []
                resourceSpans.scopeSpans = [scope]
                request.resourceSpans.append(resourceSpans)
            }
            bySevice = [:]
            try body(OTLPRequest(.traces(request)))
        }
        for stretch in plan(options) {
            let total = Int(((stretch.to - stretch.from) * stretch.rate).rounded(.down))
            for i in 0..<total {
                let offset = stretch.from + Double(i) / stretch.rate
                let jitter = Int64(rng.nextDouble() * 0.5e9 / stretch.rate)
                let startNs = options.startNs + Int64(offset * 1e9) + jitter
                let s = Int(offset)
                if s != second {
                    try flush()
                    second = s
                }
                let phase = phaseList.last { offset >= $0.from }?.name ?? phaseList[0].name
                var builder = TraceBuilder(rng: rng, pattern: options.pattern)
                // Which service fails in this trace, if any.
                if phase == "payment-failure" {
                    if builder.rng.nextDouble() < 0.75 { builder.failing = "payment" }
                } else if builder.rng.nextDouble() < stretch.errorRate {
                    builder.failing = ["payment", "inventory", "shipping"][Int(builder.rng.next() % 3)]
                }
                builder.build(startNs: UInt64(startNs))
                rng = builder.rng
                for span in builder.spans { bySevice[span.service, default: []].append(span.span) }
            }
        }
        try flush()
    }

    /// All generated requests, in time order.
    public static func requests(_ options: OTLPSeedOptions) throws(RRLogError) -> [OTLPRequest] {
        var out: [OTLPRequest] = []
        try forEachRequest(options) { out.append($0) }
        return out
    }

    static let serviceOrder = [
        "frontend", "api-gateway", "auth", "cart", "recommendation", "checkout", "orders", "search", "catalog", "inventory", "payment",
        "fraud", "shipping", "notification",
    ]

    static func attribute(_ key: String, _ value: OTelAnyValue.OneOf_Value) -> OTelKeyValue {
        var kv = OTelKeyValue()
        kv.key = key
        kv.value.value = value
        return kv
    }

    /// Builds one trace's spans, depth first, children one after another inside their parent.
    struct TraceBuilder {
        var rng: SplitMix64
        let pattern: OTLPSeedPattern
        var failing: String?
        var traceID = Data()
        var spans: [(service: String, span: OTelSpan)] = []

        init(rng: SplitMix64, pattern: OTLPSeedPattern) {
            self.rng = rng
            self.pattern = pattern
        }

        struct Call {
            var service: String
            var name: String
            var kind: OTelSpan.SpanKind
            var selfMs: Double
            var children: [Call]
            var attributes: [(String, OTelAnyValue.OneOf_Value)] = []
        }

        func shape() -> Call {
            if pattern == .complexTopology { return complexShape() }
            let payment = Call(service: "payment", name: "Charge", kind: .server, selfMs: 15, children: [
                Call(service: "payment", name: "INSERT payments", kind: .client, selfMs: 4, children: [],
                     attributes: [("db.system", .stringValue("postgresql")), ("db.operation.name", .stringValue("INSERT"))]),
            ], attributes: [("payment.method", .stringValue("card"))])
            let inventory = Call(service: "inventory", name: "ReserveItems", kind: .server, selfMs: 6, children: [])
            let shipping = Call(service: "shipping", name: "GetQuote", kind: .server, selfMs: 5, children: [])
            var checkoutChildren = [inventory, payment, shipping]
            var frontendChildren: [Call] = []
            if pattern == .highLoad {
                checkoutChildren = [inventory, inventory, inventory, payment, shipping]
                frontendChildren = [
                    Call(service: "cart", name: "GetCart", kind: .server, selfMs: 3, children: []),
                    Call(service: "recommendation", name: "ListRecommendations", kind: .server, selfMs: 8, children: []),
                ]
            }
            frontendChildren.append(Call(service: "checkout", name: "PlaceOrder", kind: .server, selfMs: 10, children: checkoutChildren))
            return Call(service: "frontend", name: "POST /api/checkout", kind: .server, selfMs: 5, children: frontendChildren,
                        attributes: [("http.request.method", .stringValue("POST")), ("http.route", .stringValue("/api/checkout"))])
        }

        /// complex-topology: frontend → api-gateway → auth, orders (→ inventory → catalog,
        /// payment → fraud, shipping, and an order event through a queue to notification),
        /// search → catalog; databases under auth, catalog, fraud and payment.
        func complexShape() -> Call {
            func database(_ service: String, _ system: String, _ operation: String, _ table: String) -> Call {
                Call(service: service, name: "\(operation) \(table)", kind: .client, selfMs: 3, children: [],
                     attributes: [("db.system", .stringValue(system)), ("db.operation.name", .stringValue(operation))])
            }
            let catalog = Call(service: "catalog", name: "GetItems", kind: .server, selfMs: 4, children: [database("catalog", "postgresql", "SELECT", "items")])
            let inventory = Call(service: "inventory", name: "ReserveItems", kind: .server, selfMs: 6, children: [catalog])
            let fraud = Call(service: "fraud", name: "Score", kind: .server, selfMs: 7, children: [database("fraud", "postgresql", "SELECT", "rules")])
            let payment = Call(service: "payment", name: "Charge", kind: .server, selfMs: 15, children: [fraud, database("payment", "postgresql", "INSERT", "payments")],
                               attributes: [("payment.method", .stringValue("card"))])
            let shipping = Call(service: "shipping", name: "GetQuote", kind: .server, selfMs: 5, children: [])
            let queue: [(String, OTelAnyValue.OneOf_Value)] = [("messaging.system", .stringValue("kafka")), ("messaging.destination.name", .stringValue("order-events"))]
            let notify = Call(service: "notification", name: "order-events process", kind: .consumer, selfMs: 6, children: [
                Call(service: "notification", name: "SendEmail", kind: .client, selfMs: 9, children: [], attributes: [("server.address", .stringValue("smtp.internal"))]),
            ], attributes: queue)
            let publish = Call(service: "orders", name: "order-events publish", kind: .producer, selfMs: 1, children: [notify], attributes: queue)
            let orders = Call(service: "orders", name: "CreateOrder", kind: .server, selfMs: 8, children: [inventory, payment, shipping, publish])
            let auth = Call(service: "auth", name: "Authenticate", kind: .server, selfMs: 2, children: [database("auth", "redis", "GET", "sessions")])
            let search = Call(service: "search", name: "Query", kind: .server, selfMs: 5, children: [
                Call(service: "catalog", name: "SearchItems", kind: .server, selfMs: 6, children: []),
            ])
            let gateway = Call(service: "api-gateway", name: "route /api/orders", kind: .server, selfMs: 2, children: [auth, orders, search])
            return Call(service: "frontend", name: "POST /api/orders", kind: .server, selfMs: 5, children: [gateway],
                        attributes: [("http.request.method", .stringValue("POST")), ("http.route", .stringValue("/api/orders"))])
        }

        mutating func nextID(_ count: Int) -> Data {
            var bytes: [UInt8] = []
            while bytes.count < count {
                var word = rng.next()
                for _ in 0..<8 where bytes.count < count {
                    bytes.append(UInt8(truncatingIfNeeded: word))
                    word >>= 8
                }
            }
            if bytes.allSatisfy({ $0 == 0 }) { bytes[0] = 1 }
            return Data(bytes)
        }

        mutating func build(startNs: UInt64) {
            traceID = nextID(16)
            _ = emit(shape(), parent: Data(), startNs: startNs)
        }

        /// Emits the call's span and its children's; returns (end, failed).
        mutating func emit(_ call: Call, parent: Data, startNs: UInt64) -> (UInt64, Bool) {
            let spanID = nextID(8)
            let index = spans.count
            spans.append((call.service, OTelSpan()))
            var cursor = startNs + UInt64(200_000 + rng.next() % 800_000)  // 0.2-1 ms before the first call
            var failed = false
            for child in call.children {
                if call.kind == .server, child.service != call.service {
                    // A client span around the remote call, then the callee's server span.
                    let clientID = nextID(8)
                    let clientIndex = spans.count
                    spans.append((call.service, OTelSpan()))
                    let (end, childFailed) = emit(child, parent: clientID, startNs: cursor + 300_000)
                    var client = OTelSpan()
                    client.traceID = traceID
                    client.spanID = clientID
                    client.parentSpanID = spanID
                    client.name = child.name
                    client.kind = .client
                    client.startTimeUnixNano = cursor
                    client.endTimeUnixNano = end + 300_000
                    client.attributes = [attribute("peer.service", .stringValue(child.service))]
                    if childFailed { client.status.code = .error }
                    spans[clientIndex].span = client
                    cursor = end + 300_000 + 100_000
                    failed = failed || childFailed
                } else {
                    let (end, childFailed) = emit(child, parent: spanID, startNs: cursor)
                    cursor = end + 100_000
                    failed = failed || childFailed
                }
            }
            let selfNs = UInt64(call.selfMs * (0.5 + rng.nextDouble()) * 1e6)
            let ownFailure = failing == call.service && call.kind == .server
            var span = OTelSpan()
            span.traceID = traceID
            span.spanID = spanID
            span.parentSpanID = parent
            span.name = call.name
            span.kind = call.kind
            span.startTimeUnixNano = startNs
            span.endTimeUnixNano = cursor + selfNs
            span.attributes = call.attributes.map { attribute($0.0, $0.1) }
            if ownFailure || failed {
                span.status.code = .error
                span.status.message = ownFailure ? "\(call.service) failed" : "downstream error"
                if ownFailure {
                    var event = OTelSpan.Event()
                    event.name = "exception"
                    event.timeUnixNano = cursor + selfNs / 2
                    event.attributes = [
                        attribute("exception.type", .stringValue("\(call.service.capitalized)Error")),
                        attribute("exception.message", .stringValue("\(call.name) failed")),
                    ]
                    span.events = [event]
                }
                if call.kind == .server, call.service == "frontend" {
                    span.attributes.append(attribute("http.response.status_code", .intValue(500)))
                }
            } else if call.kind == .server, call.service == "frontend" {
                span.attributes.append(attribute("http.response.status_code", .intValue(200)))
            }
            spans[index].span = span
            return (span.endTimeUnixNano, ownFailure || failed)
        }
    }
}

/// A small deterministic random generator (SplitMix64).
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A double in [0, 1).
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
