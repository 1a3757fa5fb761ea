using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;

namespace HikShareGateway.Onvif.Soap;

/// <summary>
/// WS-Security UsernameToken with PasswordDigest (OASIS UsernameToken Profile 1.0 §3.1; ONVIF Core §5.12.2):
/// <c>Base64(SHA1(nonce ‖ created ‖ password))</c>, nonce sent Base64, <c>Created</c> in UTC on the device's clock.
/// </summary>
public static class UsernameToken
{
    public static string Digest(ReadOnlySpan<byte> nonce, string created, string password)
    {
        var createdBytes = Encoding.UTF8.GetBytes(created);
        var passwordBytes = Encoding.UTF8.GetBytes(password);
        var buffer = new byte[nonce.Length + createdBytes.Length + passwordBytes.Length];
        nonce.CopyTo(buffer);
        createdBytes.CopyTo(buffer.AsSpan(nonce.Length));
        passwordBytes.CopyTo(buffer.AsSpan(nonce.Length + createdBytes.Length));
        return Convert.ToBase64String(SHA1.HashData(buffer));
    }

    /// <summary>ISO 8601 UTC with milliseconds, the form devices accept (<c>2026-11-25T10:00:00.000Z</c>).</summary>
    public static string FormatCreated(DateTimeOffset deviceNow) =>
        deviceNow.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>The <c>wsse:Security</c> header for one request.</summary>
    public static XElement Header(string username, string password, ReadOnlySpan<byte> nonce, DateTimeOffset deviceNow)
    {
        var created = FormatCreated(deviceNow);
        return new XElement(Ns.Wsse + "Security",
            new XAttribute(Ns.Soap12 + "mustUnderstand", "1"),
            new XElement(Ns.Wsse + "UsernameToken",
                new XElement(Ns.Wsse + "Username", username),
                new XElement(Ns.Wsse + "Password", new XAttribute("Type", Ns.PasswordDigestType), Digest(nonce, created, password)),
                new XElement(Ns.Wsse + "Nonce", new XAttribute("EncodingType", Ns.Base64EncodingType), Convert.ToBase64String(nonce)),
                new XElement(Ns.Wsu + "Created", created)));
    }
}
