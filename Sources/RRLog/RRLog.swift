// rrlog's library facade: `import RRLog` gives everything a user of the library needs. The code
// lives in one module per concern (README "Modules"; `Tools/check-layers` checks the graph):
//
//   RRLogReplay      Player (lookups, streams, hybrid mode), EventReplayer and bus events
//   RRLogRecording   Recorder (the background writer), BusRecorder, and Observability (the
//                    swift-log events and swift-metrics counters of recorders and players)
//   RRLogSessions    Store, SessionWriter and SessionReader, IOEventIngest (writing, call
//                    indexes, acknowledgement), verify and compact reports, RRLogError
//   RRLogIOProfile   IO keys, call identities, volatile paths, redaction, the stored-line
//                    encoding and the fast JSON-lines path (pure: no storage, no catalog)
//   RRLogJSON        JSONValue, its parser and the RFC 8785 canonical writer
//
// The storage modules (RRLogFormat, RRLogStorage, RRLogCatalog) are not re-exported: import
// them where their types are used.

@_exported import RRLogIOProfile
@_exported import RRLogJSON
@_exported import RRLogRecording
@_exported import RRLogReplay
@_exported import RRLogSessions
