using System.Collections.Concurrent;
using System.Text;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;

namespace HikShareGateway.Tests.Access;

/// <summary>Keys, grant builders and recording fakes shared by the Access and Cloud tests.</summary>
internal static class AccessTestKit
{
    public const string GatewayId = "gw-test";
    public const string Owner = "owner@example.com";
    public const string Bob = "bob@example.com";
    public const string Carol = "+8618969190000";
    public const string Nvr = "DS-7608NI-K2-E12345678";
    public const string OtherNvr = "DS-7616NI-K2-E87654321";

    public static readonly Ed25519SigningKey Key = Ed25519SigningKey.Generate("cloud-1");
    public static readonly Ed25519SigningKey OtherKey = Ed25519SigningKey.Generate("cloud-2");
    public static readonly Ed25519SigningKey Stranger = Ed25519SigningKey.Generate("cloud-1"); // same kid, different key

    public static TrustedKeySet Keys => new([Key.Public]);

    public static ShareDevice On(string deviceId, Privilege privileges, params int[] channels) => new(deviceId, channels, privileges);

    public static Share Share(string id, string recipient, ShareState state, params ShareDevice[] devices)
        => new(id, Owner, recipient, "test", state, null, devices);

    public static GrantsSnapshot Snapshot(long version, IReadOnlyList<Share> shares, IReadOnlyList<GrantDevice>? devices = null, string gatewayId = GatewayId)
        => new(gatewayId, version, DateTimeOffset.Parse("2026-11-25T10:00:00Z"), devices ?? [new GrantDevice(Nvr, Owner)], shares);

    public static GrantsDelta Delta(long baseVersion, long version, IReadOnlyList<Share>? upsertShares = null, IReadOnlyList<string>? removeShares = null,
        IReadOnlyList<GrantDevice>? upsertDevices = null, IReadOnlyList<string>? removeDevices = null, string gatewayId = GatewayId)
        => new(gatewayId, baseVersion, version, DateTimeOffset.Parse("2026-11-25T10:00:00Z"), upsertDevices ?? [], removeDevices ?? [], upsertShares ?? [], removeShares ?? []);

    public static byte[] Sign(GrantsSnapshot s, Ed25519SigningKey? key = null) => Encoding.ASCII.GetBytes(Jws.Sign(GrantsJson.Write(s), key ?? Key));
    public static byte[] Sign(GrantsDelta d, Ed25519SigningKey? key = null) => Encoding.ASCII.GetBytes(Jws.Sign(GrantsJson.Write(d), key ?? Key));
    public static byte[] SignRaw(string json, Ed25519SigningKey? key = null) => Encoding.ASCII.GetBytes(Jws.Sign(Encoding.UTF8.GetBytes(json), key ?? Key));

    /// <summary>A JWS with an arbitrary header (for alg/kid tests), correctly signed with <see cref="Key"/>.</summary>
    public static byte[] SignWithHeader(string headerJson, ReadOnlySpan<byte> payload, Ed25519SigningKey? key = null)
    {
        var input = Base64UrlStrict.Encode(Encoding.UTF8.GetBytes(headerJson)) + "." + Base64UrlStrict.Encode(payload);
        return Encoding.ASCII.GetBytes(input + "." + Base64UrlStrict.Encode((key ?? Key).Sign(Encoding.ASCII.GetBytes(input))));
    }

    public static string TempDirectory()
    {
        var d = Path.Combine(Path.GetTempPath(), "hikshare-tests-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(d);
        return d;
    }
}

internal sealed class RecordingPublisher : ICloudPublisher
{
    public readonly ConcurrentQueue<(string SubTopic, byte[] Payload, bool Retain)> Messages = new();

    public void Publish(string subTopic, ReadOnlyMemory<byte> payload, bool retain) => Messages.Enqueue((subTopic, payload.ToArray(), retain));

    public IEnumerable<string> Payloads(string subTopic) => Messages.Where(m => m.SubTopic == subTopic).Select(m => Encoding.UTF8.GetString(m.Payload));
}

internal sealed class RecordingAuditSink : IAuditSink
{
    public readonly ConcurrentQueue<AuditEvent> Events = new();
    public void Record(AuditEvent auditEvent) => Events.Enqueue(auditEvent);
}

/// <summary>A session as the RTSP layer would register it; counts Revoke calls.</summary>
internal sealed class FakeSession
{
    private int _revoked;
    public string? Reason;
    public ViewerSession Session { get; }
    public bool Revoked => Volatile.Read(ref _revoked) > 0;
    public int RevokeCount => Volatile.Read(ref _revoked);

    public FakeSession(string account, string deviceId, int channel, Privilege action)
    {
        Session = new ViewerSession
        {
            SessionId = Guid.NewGuid().ToString("N")[..8],
            Account = account,
            DeviceId = deviceId,
            Channel = channel,
            Action = action,
            Remote = "127.0.0.1:50000",
            Revoke = r => { Reason = r; Interlocked.Increment(ref _revoked); },
        };
    }
}
