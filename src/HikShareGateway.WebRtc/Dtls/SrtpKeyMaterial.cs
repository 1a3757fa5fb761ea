using HikShareGateway.WebRtc.Srtp;

namespace HikShareGateway.WebRtc.Dtls;

/// <summary>
/// The SRTP master keys of a DTLS-SRTP association (RFC 5764 §4.2), seen from our side: we are the DTLS server,
/// so we send with the server write key and salt and receive with the client's.
/// </summary>
public sealed class SrtpKeyMaterial
{
    public SrtpProfile Profile { get; }
    public byte[] ClientKey { get; }
    public byte[] ServerKey { get; }
    public byte[] ClientSalt { get; }
    public byte[] ServerSalt { get; }

    public SrtpKeyMaterial(SrtpProfile profile, ReadOnlySpan<byte> exported)
    {
        var k = SrtpProfileInfo.MasterKeyLength(profile);
        var s = SrtpProfileInfo.MasterSaltLength(profile);
        if (exported.Length != 2 * (k + s)) throw new ArgumentException("Exported keying material has the wrong length.", nameof(exported));
        Profile = profile;
        // client_write_SRTP_master_key | server_write_SRTP_master_key | client_write_SRTP_master_salt | server_write_SRTP_master_salt
        ClientKey = exported[..k].ToArray();
        ServerKey = exported.Slice(k, k).ToArray();
        ClientSalt = exported.Slice(2 * k, s).ToArray();
        ServerSalt = exported.Slice(2 * k + s, s).ToArray();
    }

    public static int ExportLength(SrtpProfile profile)
        => 2 * (SrtpProfileInfo.MasterKeyLength(profile) + SrtpProfileInfo.MasterSaltLength(profile));

    /// <summary>The context for what we send (server write keys).</summary>
    public SrtpContext CreateSender() => new(Profile, ServerKey, ServerSalt);

    /// <summary>The context for what the browser sends (client write keys): RTCP feedback, talk-back audio.</summary>
    public SrtpContext CreateReceiver() => new(Profile, ClientKey, ClientSalt);
}
