import Foundation
import RRLog
import RRLogFormat
import RRLogStorage

// MARK: 8. ratio

/// Stored size of the real-data corpora per codec (as `rrlog append` would store them:
/// IOEventEncoder records, default chunks). The CLI tools' sizes come from bench_peers.py.
func ratio(_ ctx: Context) throws {
    let w = "ratio"
    for file in ["llm-session.jsonl", "llm-session-200.jsonl"] {
        let path = ctx.fixtures + "/io/" + file
        guard FileManager.default.fileExists(atPath: path) else {
            ctx.check(file != "llm-session.jsonl", "the corpus \(path) exists")
            continue
        }
        let corpus = try IOCorpus(path: path)
        let raw = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        var row = Row(w, "raw.\(file)", "\(file): the file itself", system: "file")
        row.size = raw
        row.records = corpus.templates.count
        row.kind = "size"
        ctx.emit(row)
        // The default chunk sizes, then zstd variants that show where the size goes: 256 KiB
        // chunks (the uncompressed default), 1 MiB chunks (an archive: `rrlog compact
        // --chunk-size 1M`), and the same records without their IO keys (36 bytes each, 32 of them
        // a SHA-256 digest that no compressor can shrink).
        let variants: [(codec: Codec, chunk: Int?, keys: Bool, label: String)] = [
            (.none, nil, true, ""), (.lz4, nil, true, ""), (.zstd, nil, true, ""),
            (.zstd, 256 << 10, true, ", 256 KiB chunks"), (.zstd, 1 << 20, true, ", 1 MiB chunks (archive)"),
            (.zstd, nil, false, ", records without IO keys"),
        ]
        for (codec, chunk, keys, label) in variants {
            let dir = ctx.tmp + "/ratio-\(codec)"
            removeTree(dir)
            var options = LogOptions()
            options.codec = codec
            options.chunkSizeBytes = chunk
            let writer = try LogWriter(directory: dir, options: options)
            var encoder = IOEventEncoder()
            var records: [RecordInput] = []
            for t in corpus.templates {
                var record = try encoder.record(for: try JSONValue.parse(t.line), location: file)
                if !keys { record.key = nil }
                records.append(record)
            }
            try writer.appendBatch(records)
            try writer.close()
            let reader = try LogReader(path: dir)
            ctx.check(reader.recordCount == corpus.templates.count, "\(file) via \(codec): \(reader.recordCount) records, expected \(corpus.templates.count)")
            let total = reader.segments.reduce(0) { $0 + $1.sizeBytes }
            let chunkBytes = reader.segments.reduce(0) { s, seg in s + seg.view.chunks.reduce(0) { $0 + Int($1.frameLength) } }
            let rawRecords = reader.segments.reduce(0) { s, seg in s + seg.view.chunks.reduce(0) { $0 + Int($1.rawLength) } }
            let id = "rrlog.\(file).\(codec)" + (chunk.map { ".\($0 >> 10)k" } ?? "") + (keys ? "" : ".nokeys")
            row = Row(w, id, "\(file): rrlog segments" + label, codec: "\(codec)")
            row.size = total
            row.records = corpus.templates.count
            row.kind = "size"
            row.value = String(format: "file/stored %.2f", Double(raw) / Double(total))
            row.note = "chunk frames \(chunkBytes) B (records before compression \(rawRecords) B), index + header + footer \(total - chunkBytes) B; \(reader.segments.map { $0.view.chunks.count }.reduce(0, +)) chunks"
            ctx.emit(row)
            removeTree(dir)
        }
    }
}

// MARK: 9. physical limits

func limits(_ ctx: Context) throws {
    let w = "limits"
    // Clock overhead (what every latency figure includes once).
    do {
        let n = 1_000_000
        var sink = 0
        let t = time {
            for _ in 0..<n {
                let a = clock.now
                let b = clock.now
                sink &+= (b - a) > .zero ? 1 : 0
            }
        }
        var row = Row(w, "clock", "ContinuousClock.now, two reads", system: "machine")
        row.value = String(format: "%.0f ns per latency sample", t / Double(n) * 1e9)
        row.kind = "info"
        row.note = "included once in every latency figure (\(sink > -1 ? "measured" : ""))"
        ctx.emit(row)
    }
    let size = ctx.quick ? 16 << 20 : 256 << 20
    let src = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    let dst = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    defer {
        src.deallocate()
        dst.deallocate()
    }
    var x: UInt64 = 88172645463325252
    for i in stride(from: 0, to: size, by: 8) {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        src.storeBytes(of: x, toByteOffset: i, as: UInt64.self)
    }
    memset(dst, 1, size)
    do {
        var best = Double.infinity
        for _ in 0..<5 { best = min(best, time { memcpy(dst, src, size) }) }
        ctx.check(memcmp(dst, src, size) == 0, "memcpy copied")
        var row = Row(w, "memcpy", "memcpy \(size >> 20) MiB", system: "machine")
        row.bytes = size
        row.seconds = best
        row.kind = "info"
        row.note = "best of 5"
        ctx.emit(row)
    }
    do {
        var best = Double.infinity
        var crc: UInt32 = 0
        for _ in 0..<5 { best = min(best, time { crc = CRC32C.checksum(UnsafeRawBufferPointer(start: src, count: size)) }) }
        ctx.check(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283, "CRC32C check value")
        var row = Row(w, "crc32c", "CRC32C.checksum \(size >> 20) MiB", system: "machine")
        row.bytes = size
        row.seconds = best
        row.kind = "info"
        row.note = "best of 5; hardware=\(CRC32C.usesHardware); crc \(String(crc, radix: 16))"
        ctx.emit(row)
    }
    // Memory latency as a large uncompressed lookup meets it: a read at a random place of a
    // 32 MiB table, then 256 bytes at a place that depends on it in a 2.4 GB region (the key
    // slot, then the record), with 4 KiB pages and with 2 MiB (transparent huge) pages.
    if !ctx.quick {
        for huge in [false, true] {
            let table = 32 << 20, region = 2400 << 20, align = 2 << 20
            let total = table + region + align
            guard let raw = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else { continue }
            defer { munmap(raw, total) }
            let base = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: raw) + align - 1) & ~(align - 1))!
            _ = madvise(base, table + region, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)
            memset(base, 1, table + region)
            let n = 200_000
            var lat = [Double](repeating: 0, count: n)
            var x: UInt64 = 88172645463325252
            var sum: UInt64 = 0
            for i in 0..<n {
                x ^= x << 13
                x ^= x >> 7
                x ^= x << 17
                let t0 = clock.now
                let slot = base.load(fromByteOffset: Int(x % UInt64(table / 8)) * 8, as: UInt64.self)
                let at = table + Int(((x >> 20) ^ slot) % UInt64(region - 256))
                for k in stride(from: 0, to: 256, by: 64) { sum &+= UInt64(base.load(fromByteOffset: at + k, as: UInt8.self)) }
                lat[i] = micros(clock.now - t0)
            }
            lat.sort()
            var row = Row(w, "memlat.\(huge ? "2m" : "4k")", "slot then record: 2 dependent random reads in 2.4 GB, \(huge ? "2 MiB" : "4 KiB") pages", system: "machine")
            row.p50us = percentile(lat, 0.5)
            row.p99us = percentile(lat, 0.99)
            row.kind = "latency"
            row.records = n
            row.seconds = lat.reduce(0, +) / 1e6
            row.note = "the floor a lookup in a 10M-record session adds to one in a cached 10k session (\(sum > 0 ? "read" : "-"))"
            ctx.emit(row)
        }
    }
    // Disk: sequential write then fdatasync, and 4 KiB append + fdatasync latency.
    do {
        let path = ctx.disk + "/seq.bin"
        removeTree(path)
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        guard fd >= 0 else { throw BenchError("open \(path)") }
        let total = ctx.quick ? 16 << 20 : 512 << 20
        let step = 1 << 20
        let t = time {
            var off = 0
            while off < total {
                _ = pwrite(fd, src + (off % size), step, off_t(off))
                off += step
            }
            _ = fdatasync(fd)
        }
        var row = Row(w, "disk.seq", "sequential write \(total >> 20) MiB (1 MiB writes) + fdatasync", system: "machine")
        row.bytes = total
        row.seconds = t
        row.kind = "info"
        row.note = "on \(ctx.disk)" + (isTmpfs(ctx.disk) ? " (tmpfs!)" : "")
        ctx.emit(row)
        var lat: [Double] = []
        let ops = ctx.quick ? 20 : 300
        var off = total
        for _ in 0..<ops {
            let t0 = clock.now
            _ = pwrite(fd, src, 4096, off_t(off))
            _ = fdatasync(fd)
            lat.append(micros(clock.now - t0))
            off += 4096
        }
        close(fd)
        removeTree(path)
        lat.sort()
        row = Row(w, "disk.sync4k", "4 KiB append + fdatasync", system: "machine")
        row.records = ops
        row.seconds = lat.reduce(0, +) / 1e6
        row.p50us = percentile(lat, 0.5)
        row.p99us = percentile(lat, 0.99)
        row.kind = "latency"
        ctx.emit(row)
    }
}
