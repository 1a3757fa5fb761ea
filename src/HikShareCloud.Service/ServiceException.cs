namespace HikShareCloud.Service;

/// <summary>
/// A refusal the caller can act on, with what RFC 9457 needs: HTTP status, a stable problem type
/// (<c>urn:hikshare:problem:{Code}</c>) and a human detail. Thrown inside a transaction, it rolls the
/// transaction back, so bad input changes nothing.
/// </summary>
public sealed class ServiceException(int status, string code, string detail) : Exception(detail)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public string Type => "urn:hikshare:problem:" + Code;

    public static ServiceException BadRequest(string code, string detail) => new(400, code, detail);
    public static ServiceException Unauthorized(string detail) => new(401, "unauthorized", detail);
    public static ServiceException Forbidden(string code, string detail) => new(403, code, detail);
    public static ServiceException NotFound(string code, string detail) => new(404, code, detail);
    public static ServiceException Conflict(string code, string detail) => new(409, code, detail);
    public static ServiceException TooMany(string detail) => new(429, "throttled", detail);
}
