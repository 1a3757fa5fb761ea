using System.Text;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Protocols;

namespace HikShareGateway.Onvif.Soap;

/// <summary>
/// The client side of HTTP authentication towards one device (one origin and one login): the last Digest challenge
/// and its nonce count, or Basic where an old unit offers nothing else. Thread-safe. Shared by the ISAPI client and
/// the device picture client, so that a challenge learnt once answers the next requests without a 401 round trip.
/// </summary>
public sealed class HttpAuthSession(DeviceCredentials credentials)
{
    private readonly Lock _gate = new();
    private DigestChallenge? _challenge;
    private bool _basic;
    private int _nonceCount;

    public bool HasCredentials => credentials.Username is not null;

    /// <summary>The <c>Authorization</c> value for <paramref name="method"/> <paramref name="uri"/> (path and query), or null before any challenge.</summary>
    public string? Authorization(string method, string uri)
    {
        if (credentials.Username is null)
        {
            return null;
        }
        lock (_gate)
        {
            if (_challenge is not null)
            {
                var cnonce = Digest.NewCnonce();
                return HttpDigest.Authorization(_challenge, method, uri, credentials.Username, credentials.Password ?? "", cnonce, ++_nonceCount);
            }
            if (_basic)
            {
                return "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials.Username + ":" + (credentials.Password ?? "")));
            }
        }
        return null;
    }

    /// <summary>Takes a 401's <c>WWW-Authenticate</c> values: Digest preferred, Basic only when nothing else is offered. False when none is usable (or no credentials).</summary>
    public bool TakeChallenge(IEnumerable<string> headers)
    {
        if (credentials.Username is null)
        {
            return false;
        }
        var basic = false;
        foreach (var h in headers)
        {
            if (DigestChallenge.TryParse(h, out var challenge))
            {
                lock (_gate)
                {
                    _challenge = challenge;
                    _nonceCount = 0;
                    _basic = false;
                }
                return true;
            }
            basic |= h.TrimStart().StartsWith("Basic", StringComparison.OrdinalIgnoreCase);
        }
        if (basic)
        {
            lock (_gate)
            {
                _challenge = null;
                _basic = true;
            }
            return true;
        }
        return false;
    }
}
