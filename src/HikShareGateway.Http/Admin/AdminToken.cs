using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Http.Admin;

/// <summary>
/// The admin credential: the configured <c>Admin:Token</c>, or 32 random bytes (base64url) written at start to
/// <c>Admin:TokenFile</c> with mode 0600 so that only the service user (and root) can read it.
/// </summary>
public sealed partial class AdminToken
{
    private readonly byte[]? _expected;

    private AdminToken(byte[]? expected, string? file) { _expected = expected; File = file; }

    /// <summary>The file the token was written to (null when configured or not written).</summary>
    public string? File { get; }

    /// <summary>True when a token exists: without one the admin endpoint refuses everything.</summary>
    public bool Available => _expected is not null;

    public static AdminToken Create(AdminOptions options, string tokenFile, ILogger logger)
    {
        if (!string.IsNullOrEmpty(options.Token))
        {
            return new AdminToken(Encoding.UTF8.GetBytes(options.Token), null);
        }
        var token = Base64Url(RandomNumberGenerator.GetBytes(32));
        try
        {
            Write(tokenFile, token);
            LogWritten(logger, tokenFile);
            return new AdminToken(Encoding.UTF8.GetBytes(token), tokenFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogWriteFailed(logger, tokenFile, e.Message);
            return new AdminToken(null, null);
        }
    }

    /// <summary>Writes atomically (temp file with mode 0600, then rename) so a reader never sees half a token.</summary>
    public static void Write(string path, string token)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, "." + Path.GetFileName(path) + "." + Environment.ProcessId + ".tmp");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var stream = new FileStream(temp, options))
        {
            stream.Write(Encoding.ASCII.GetBytes(token + "\n"));
            stream.Flush(flushToDisk: true);
        }
        if (!OperatingSystem.IsWindows())
        {
            // UnixCreateMode is masked by the umask; set the mode explicitly as well.
            System.IO.File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        System.IO.File.Move(temp, path, overwrite: true);
    }

    /// <summary>Constant-time comparison (no timing oracle on the token).</summary>
    public bool Matches(string? presented)
    {
        if (_expected is null || string.IsNullOrEmpty(presented))
        {
            return false;
        }
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _expected);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [LoggerMessage(EventId = 5301, Level = LogLevel.Information, Message = "Admin token written to {File} (mode 0600)")]
    private static partial void LogWritten(ILogger logger, string file);

    [LoggerMessage(EventId = 5302, Level = LogLevel.Error, Message = "Admin token could not be written to {File}: {Error}; `hikshare-gateway status` will not work (set Admin:Token or make Gateway:StateDirectory writable)")]
    private static partial void LogWriteFailed(ILogger logger, string file, string error);
}
