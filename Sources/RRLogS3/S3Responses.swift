/// One object in a listing.
public struct S3ObjectSummary: Sendable, Equatable {
    /// The full object key.
    public var key: String
    /// The size in bytes.
    public var sizeBytes: Int
    /// The ETag, quotes included as the server sends them.
    public var etag: String
    /// The last-modified time as the server wrote it (ISO 8601).
    public var lastModified: String
}

/// One page of ListObjectsV2.
public struct S3ListPage: Sendable, Equatable {
    /// The objects on this page.
    public var objects: [S3ObjectSummary]
    /// The common prefixes (with a delimiter), e.g. `sessions/abc/`.
    public var commonPrefixes: [String]
    /// The token for the next page, when the listing is truncated.
    public var nextContinuationToken: String?
}

/// A multipart upload in progress.
public struct S3MultipartUpload: Sendable, Equatable {
    /// The object key.
    public var key: String
    /// The upload id.
    public var uploadID: String
    /// When the upload was started, as the server wrote it.
    public var initiated: String
}

/// One page of ListMultipartUploads.
struct S3UploadsPage: Equatable {
    var uploads: [S3MultipartUpload]
    var nextKeyMarker: String?
    var nextUploadIDMarker: String?
}

/// The `<Error>` document of a failed request.
public struct S3ErrorDocument: Error, Sendable, Equatable {
    /// The S3 error code, e.g. `NoSuchKey`.
    public var code: String
    /// The server's message.
    public var message: String
    /// The request id, for the server's logs.
    public var requestID: String?

    /// An error document from its parts.
    public init(code: String, message: String, requestID: String?) {
        self.code = code
        self.message = message
        self.requestID = requestID
    }
}

/// Decoders from the XML tree into the answers above; each checks the root element's name.
public enum S3Responses {
    static func root(_ bytes: [UInt8], _ name: String) throws(S3XMLError) -> S3XMLElement {
        let root = try S3XMLElement.parse(bytes)
        guard root.name == name else { throw .malformed(offset: 0, reason: "expected <\(name)>, found <\(root.name)>") }
        return root
    }

    static func required(_ element: S3XMLElement, _ name: String) throws(S3XMLError) -> String {
        guard let text = element.text(name) else { throw .malformed(offset: 0, reason: "<\(element.name)> has no <\(name)>") }
        return text
    }

    /// A `ListBucketResult` of ListObjectsV2.
    public static func listPage(_ bytes: [UInt8]) throws(S3XMLError) -> S3ListPage {
        let root = try root(bytes, "ListBucketResult")
        var objects: [S3ObjectSummary] = []
        for content in root.children("Contents") {
            let sizeText = try required(content, "Size")
            guard let size = Int(sizeText), size >= 0 else { throw .malformed(offset: 0, reason: "a <Size> of \"\(sizeText)\"") }
            objects.append(S3ObjectSummary(key: try required(content, "Key"), sizeBytes: size, etag: content.text("ETag") ?? "",
                                           lastModified: content.text("LastModified") ?? ""))
        }
        let prefixes = root.children("CommonPrefixes").compactMap { $0.text("Prefix") }
        let truncated = root.text("IsTruncated") == "true"
        let token = root.text("NextContinuationToken").flatMap { $0.isEmpty ? nil : $0 }
        if truncated && token == nil { throw .malformed(offset: 0, reason: "a truncated listing without <NextContinuationToken>") }
        return S3ListPage(objects: objects, commonPrefixes: prefixes, nextContinuationToken: truncated ? token : nil)
    }

    /// An `Error` document.
    public static func error(_ bytes: [UInt8]) throws(S3XMLError) -> S3ErrorDocument {
        let root = try root(bytes, "Error")
        return S3ErrorDocument(code: try required(root, "Code"), message: root.text("Message") ?? "", requestID: root.text("RequestId"))
    }

    /// The upload id of an `InitiateMultipartUploadResult`.
    public static func uploadID(_ bytes: [UInt8]) throws(S3XMLError) -> String {
        try required(try root(bytes, "InitiateMultipartUploadResult"), "UploadId")
    }

    /// The ETag of a `CompleteMultipartUploadResult`. S3 may answer 200 with an `<Error>` document
    /// when the completion fails late; that comes back as the error document.
    public static func completeResult(_ bytes: [UInt8]) throws(S3XMLError) -> Result<String, S3ErrorDocument> {
        let root = try S3XMLElement.parse(bytes)
        if root.name == "Error" { return .failure(try error(bytes)) }
        guard root.name == "CompleteMultipartUploadResult" else {
            throw .malformed(offset: 0, reason: "expected <CompleteMultipartUploadResult>, found <\(root.name)>")
        }
        return .success(try required(root, "ETag"))
    }

    /// A `ListMultipartUploadsResult`.
    static func uploadsPage(_ bytes: [UInt8]) throws(S3XMLError) -> S3UploadsPage {
        let root = try root(bytes, "ListMultipartUploadsResult")
        var uploads: [S3MultipartUpload] = []
        for upload in root.children("Upload") {
            uploads.append(S3MultipartUpload(key: try required(upload, "Key"), uploadID: try required(upload, "UploadId"),
                                             initiated: upload.text("Initiated") ?? ""))
        }
        let truncated = root.text("IsTruncated") == "true"
        return S3UploadsPage(uploads: uploads, nextKeyMarker: truncated ? root.text("NextKeyMarker") : nil,
                             nextUploadIDMarker: truncated ? root.text("NextUploadIdMarker") : nil)
    }

    /// Decodes `bytes` with every decoder above (the fuzz harness's entry point); never traps.
    public static func decodeAll(_ bytes: [UInt8]) {
        _ = try? listPage(bytes)
        _ = try? error(bytes)
        _ = try? uploadID(bytes)
        _ = try? completeResult(bytes)
        _ = try? uploadsPage(bytes)
    }
}
