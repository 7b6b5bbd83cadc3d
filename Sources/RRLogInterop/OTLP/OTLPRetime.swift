import Foundation
import SwiftProtobuf

// Replay support: time shifting, service filtering and export responses (partial success).

extension OTLPRequest {
    /// The request with every non-zero time field moved by `deltaNs` (clamped to 1...UInt64.max):
    /// span start and end, span event times, log time and observed time, data point start and
    /// time, exemplar times. Unset (zero) fields stay unset.
    public func shiftingTimes(byNs deltaNs: Int64) -> OTLPRequest {
        if deltaNs == 0 { return self }
        return mappingTimes { t in
            let shifted = Int64(clamping: t) &+ deltaNs
            return shifted <= 0 ? 1 : UInt64(shifted)
        }
    }

    /// The request moved in time so that its earliest time (`earliestTimeNs`: the first span
    /// start, data point time or log time) is `ns`: every time field moves by the same amount, so
    /// each span keeps its duration and the spacing between items is kept. A request without
    /// times is returned as it is.
    public func startingAt(ns: Int64) -> OTLPRequest {
        guard let earliest = earliestTimeNs else { return self }
        return shiftingTimes(byNs: ns &- earliest)
    }

    /// The request with every non-zero time field set to `ns` (see `shiftingTimes(byNs:)`). Spans
    /// become 0 ns long: to move a request to the present, use `startingAt(ns:)`.
    public func settingTimes(toNs ns: UInt64) -> OTLPRequest {
        mappingTimes { _ in ns }
    }

    /// The request with `transform` applied to every non-zero time field.
    func mappingTimes(_ transform: (UInt64) -> UInt64) -> OTLPRequest {
        func map(_ t: inout UInt64) { if t != 0 { t = transform(t) } }
        var message = self.message
        switch message {
        case .traces(var m):
            for r in m.resourceSpans.indices {
                for s in m.resourceSpans[r].scopeSpans.indices {
                    for i in m.resourceSpans[r].scopeSpans[s].spans.indices {
                        var span = m.resourceSpans[r].scopeSpans[s].spans[i]
                        map(&span.startTimeUnixNano)
                        map(&span.endTimeUnixNano)
                        if !span.events.isEmpty {
                            var events = span.events
                            for e in events.indices { map(&events[e].timeUnixNano) }
                            span.events = events
                        }
                        m.resourceSpans[r].scopeSpans[s].spans[i] = span
                    }
                }
            }
            message = .traces(m)
        case .logs(var m):
            for r in m.resourceLogs.indices {
                for s in m.resourceLogs[r].scopeLogs.indices {
                    for i in m.resourceLogs[r].scopeLogs[s].logRecords.indices {
                        map(&m.resourceLogs[r].scopeLogs[s].logRecords[i].timeUnixNano)
                        map(&m.resourceLogs[r].scopeLogs[s].logRecords[i].observedTimeUnixNano)
                    }
                }
            }
            message = .logs(m)
        case .metrics(var m):
            for r in m.resourceMetrics.indices {
                for s in m.resourceMetrics[r].scopeMetrics.indices {
                    for i in m.resourceMetrics[r].scopeMetrics[s].metrics.indices {
                        var metric = m.resourceMetrics[r].scopeMetrics[s].metrics[i]
                        switch metric.data {
                        case .gauge(var g)?:
                            for p in g.dataPoints.indices {
                                map(&g.dataPoints[p].startTimeUnixNano)
                                map(&g.dataPoints[p].timeUnixNano)
                                for e in g.dataPoints[p].exemplars.indices { map(&g.dataPoints[p].exemplars[e].timeUnixNano) }
                            }
                            metric.data = .gauge(g)
                        case .sum(var g)?:
                            for p in g.dataPoints.indices {
                                map(&g.dataPoints[p].startTimeUnixNano)
                                map(&g.dataPoints[p].timeUnixNano)
                                for e in g.dataPoints[p].exemplars.indices { map(&g.dataPoints[p].exemplars[e].timeUnixNano) }
                            }
                            metric.data = .sum(g)
                        case .histogram(var g)?:
                            for p in g.dataPoints.indices {
                                map(&g.dataPoints[p].startTimeUnixNano)
                                map(&g.dataPoints[p].timeUnixNano)
                                for e in g.dataPoints[p].exemplars.indices { map(&g.dataPoints[p].exemplars[e].timeUnixNano) }
                            }
                            metric.data = .histogram(g)
                        case .exponentialHistogram(var g)?:
                            for p in g.dataPoints.indices {
                                map(&g.dataPoints[p].startTimeUnixNano)
                                map(&g.dataPoints[p].timeUnixNano)
                                for e in g.dataPoints[p].exemplars.indices { map(&g.dataPoints[p].exemplars[e].timeUnixNano) }
                            }
                            metric.data = .exponentialHistogram(g)
                        case .summary(var g)?:
                            for p in g.dataPoints.indices {
                                map(&g.dataPoints[p].startTimeUnixNano)
                                map(&g.dataPoints[p].timeUnixNano)
                            }
                            metric.data = .summary(g)
                        case nil:
                            break
                        }
                        m.resourceMetrics[r].scopeMetrics[s].metrics[i] = metric
                    }
                }
            }
            message = .metrics(m)
        }
        return OTLPRequest(message)
    }

    /// Every non-zero time field of the request, in document order (spans: start, end, event
    /// times; logs: time, observed time; data points: start, time, exemplar times).
    public var allTimesNs: [UInt64] {
        var out: [UInt64] = []
        _ = mappingTimes { t in out.append(t); return t }
        return out
    }
}

/// What an OTLP/HTTP export response says: how many items the receiver rejected (a partial
/// success), and its message.
public struct OTLPExportResult: Sendable, Equatable {
    /// Rejected spans, data points or log records (0: all accepted).
    public var rejected: Int64
    /// The receiver's message (may be empty).
    public var message: String

    /// Decodes a 200 response body of `signal` (protobuf, or JSON when `json`). An empty or
    /// undecodable body counts as full success.
    public init(responseBody body: [UInt8], signal: OTLPSignal, json: Bool) {
        rejected = 0
        message = ""
        guard !body.isEmpty else { return }
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        do {
            switch signal {
            case .traces:
                let r = json
                    ? try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(jsonUTF8Bytes: body, options: options)
                    : try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(serializedBytes: body)
                rejected = r.partialSuccess.rejectedSpans
                message = r.partialSuccess.errorMessage
            case .metrics:
                let r = json
                    ? try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceResponse(jsonUTF8Bytes: body, options: options)
                    : try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceResponse(serializedBytes: body)
                rejected = r.partialSuccess.rejectedDataPoints
                message = r.partialSuccess.errorMessage
            case .logs:
                let r = json
                    ? try Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceResponse(jsonUTF8Bytes: body, options: options)
                    : try Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceResponse(serializedBytes: body)
                rejected = r.partialSuccess.rejectedLogRecords
                message = r.partialSuccess.errorMessage
            }
        } catch {
            return
        }
    }
}
