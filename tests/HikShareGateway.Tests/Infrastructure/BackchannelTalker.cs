using System.Buffers.Binary;
using System.Globalization;
using System.Net;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>One m= section of an SDP (RFC 4566 §5.14) with the attributes the tests look at.</summary>
public sealed record SdpMedia(string Media, int Port, string Protocol, IReadOnlyList<int> Formats, string? Direction, string? Control, IReadOnlyList<string> RtpMaps)
{
    public bool IsSendOnly => Direction == "sendonly";
}

/// <summary>Just enough SDP reading for assertions; not the gateway's parser.</summary>
public static class TestSdp
{
    public static IReadOnlyList<SdpMedia> ParseMedia(string sdp)
    {
        var result = new List<SdpMedia>();
        string[]? m = null;
        string? direction = null, control = null;
        var rtpmaps = new List<string>();
        void Flush()
        {
            if (m is not null)
            {
                result.Add(new SdpMedia(m[0], int.Parse(m[1], CultureInfo.InvariantCulture), m[2],
                    m.Skip(3).Select(f => int.Parse(f, CultureInfo.InvariantCulture)).ToList(), direction, control, rtpmaps.ToList()));
            }
        }
        foreach (var raw in sdp.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("m=", StringComparison.Ordinal))
            {
                Flush();
                m = line[2..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                direction = control = null;
                rtpmaps.Clear();
            }
            else if (m is not null && line is "a=sendonly" or "a=recvonly" or "a=sendrecv" or "a=inactive")
            {
                direction = line[2..];
            }
            else if (m is not null && line.StartsWith("a=control:", StringComparison.Ordinal))
            {
                control = line["a=control:".Length..];
            }
            else if (m is not null && line.StartsWith("a=rtpmap:", StringComparison.Ordinal))
            {
                rtpmaps.Add(line["a=rtpmap:".Length..]);
            }
        }
        Flush();
        return result;
    }
}

/// <summary>
/// The client side of an ONVIF audio backchannel (ONVIF Streaming Specification §5.3): DESCRIBE
/// with <c>Require: www.onvif.org/ver20/backchannel</c>, SETUP of the sendonly audio track
/// interleaved on channels 0-1, PLAY, then PCMU RTP sent to the camera as interleaved frames.
/// Proves the camera side for two-way audio; the gateway's own talker will be tested against it.
/// </summary>
public sealed class BackchannelTalker : IAsyncDisposable
{
    public const string RequireBackchannel = "www.onvif.org/ver20/backchannel";

    /// <summary>PCMU: 8000 samples/s, one byte each; 160 bytes = 20 ms, the usual packet.</summary>
    public const int SamplesPer20Ms = 160;

    private const byte RtpChannel = 0;
    private readonly RtspTestClient _client;
    private readonly string _aggregateUrl;
    private readonly uint _ssrc = (uint)Random.Shared.Next();
    private ushort _sequence = (ushort)Random.Shared.Next();
    private uint _timestamp = (uint)Random.Shared.Next();

    private BackchannelTalker(RtspTestClient client, string aggregateUrl, RtspResponse describe, SdpMedia track, int payloadType)
    {
        _client = client;
        _aggregateUrl = aggregateUrl;
        Describe = describe;
        Track = track;
        PayloadType = payloadType;
    }

    /// <summary>The DESCRIBE response (its body is the SDP with the sendonly track).</summary>
    public RtspResponse Describe { get; }

    /// <summary>The backchannel's m= section.</summary>
    public SdpMedia Track { get; }

    public int PayloadType { get; }

    public long PacketsSent { get; private set; }

    /// <summary>True once the server closed the talker's connection (e.g. a gateway revoking it).</summary>
    public bool ConnectionClosed => _client.IsClosed;

    /// <summary>DESCRIBE, SETUP (backchannel track only) and PLAY; throws with the camera's answer if a step fails.</summary>
    public static async Task<BackchannelTalker> StartAsync(Uri url, NetworkCredential? credentials = null, CancellationToken ct = default)
    {
        var client = await RtspTestClient.ConnectAsync(url, credentials, ct);
        try
        {
            KeyValuePair<string, string> require = new("Require", RequireBackchannel);
            var describe = await client.SendAsync("DESCRIBE", url.ToString(), [new("Accept", "application/sdp"), require], ct);
            Expect(describe, "DESCRIBE");
            var track = TestSdp.ParseMedia(describe.Body).FirstOrDefault(m => m.Media == "audio" && m.IsSendOnly)
                ?? throw new InvalidOperationException($"No sendonly audio track in the SDP:\n{describe.Body}");
            var baseUrl = describe.Header("Content-Base") ?? url.ToString();
            var control = track.Control is null or "*" ? baseUrl
                : Uri.TryCreate(track.Control, UriKind.Absolute, out var abs) ? abs.ToString()
                : baseUrl.TrimEnd('/') + "/" + track.Control;

            // The Require header goes on every request of the session (ONVIF Streaming §5.3.1).
            var setup = await client.SendAsync("SETUP", control, [new("Transport", $"RTP/AVP/TCP;unicast;interleaved={RtpChannel}-{RtpChannel + 1}"), require], ct);
            Expect(setup, "SETUP");
            var play = await client.SendAsync("PLAY", url.ToString(), [new("Range", "npt=0.000-"), require], ct);
            Expect(play, "PLAY");
            return new BackchannelTalker(client, url.ToString(), describe, track, track.Formats[0]);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="ulaw"/> as RTP packets of <paramref name="samplesPerPacket"/> bytes,
    /// paced in real time (20 ms per 160 samples) unless <paramref name="realTime"/> is false.
    /// </summary>
    public async Task SendPcmuAsync(ReadOnlyMemory<byte> ulaw, int samplesPerPacket = SamplesPer20Ms, bool realTime = true, CancellationToken ct = default)
    {
        var packet = new byte[12 + samplesPerPacket];
        var interval = TimeSpan.FromSeconds(samplesPerPacket / 8000.0);
        var start = DateTime.UtcNow; // pacing against wall time: the camera plays what it gets as it arrives
        for (var offset = 0; offset < ulaw.Length; offset += samplesPerPacket)
        {
            var chunk = ulaw.Slice(offset, Math.Min(samplesPerPacket, ulaw.Length - offset));
            // RFC 3550 §5.1: V=2, no padding/extension/CSRC; marker on the first packet (start of a talkspurt, RFC 3551 §4.1).
            packet[0] = 0x80;
            packet[1] = (byte)((PacketsSent == 0 ? 0x80 : 0) | (PayloadType & 0x7f));
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), _sequence++);
            BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(4), _timestamp);
            BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(8), _ssrc);
            chunk.Span.CopyTo(packet.AsSpan(12));
            await _client.SendInterleavedAsync(RtpChannel, packet.AsMemory(0, 12 + chunk.Length), ct);
            _timestamp += (uint)chunk.Length;
            PacketsSent++;
            if (realTime)
            {
                var due = start + interval * PacketsSent - DateTime.UtcNow;
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due, ct);
                }
            }
        }
    }

    /// <summary>TEARDOWN. The camera then unprepares the media and its filesink flushes and closes the file, shortly after (poll for it).</summary>
    public Task<RtspResponse> TeardownAsync(CancellationToken ct = default) =>
        _client.SendAsync("TEARDOWN", _aggregateUrl, [new("Require", RequireBackchannel)], ct);

    private static void Expect(RtspResponse r, string step)
    {
        if (r.StatusCode != 200)
        {
            throw new InvalidOperationException($"Backchannel {step} answered {r}");
        }
    }

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}
