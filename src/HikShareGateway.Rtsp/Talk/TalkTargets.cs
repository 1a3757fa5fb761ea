using System.Buffers;
using System.Buffers.Binary;
using System.Threading.Channels;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Upstream;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Talk;

/// <summary>Where a talker's audio goes: the camera's ONVIF backchannel or the device's own API (ISAPI).</summary>
public interface ITalkTarget : IAsyncDisposable
{
    /// <summary>The audio track the viewer is offered (<c>a=sendonly</c> added by the SDP builder).</summary>
    SdpMedia Track { get; }

    /// <summary><c>onvif</c> or <c>isapi</c>, for logs.</summary>
    string Kind { get; }

    /// <summary>One RTP (or RTCP) packet from the viewer, on the viewer's read loop; copied before returning.</summary>
    void OnPacket(bool rtcp, ReadOnlySequence<byte> packet);

    /// <summary>Completes when the device side ended (closed, failed); the talker is then disconnected.</summary>
    Task Completion { get; }
}

/// <summary>
/// The camera's ONVIF audio backchannel: its own upstream RTSP session (<see cref="RtspUpstreamClient.ConnectBackchannelAsync"/>).
/// The viewer's RTP packets are forwarded unchanged (same payload type: the viewer was offered the camera's own
/// formats) as interleaved frames on the channel the camera gave the sendonly track.
/// <para>
/// :: Step 1: the viewer's read loop copies each packet, with its interleaved header, into a pooled array and queues it
///    (bounded; the oldest audio is dropped when the camera does not keep up — late audio is worse than lost audio).
/// :: Step 2: one pump writes the queue to the camera's connection; the upstream read loop answers keep-alives.
/// </para>
/// </summary>
public sealed class OnvifBackchannelTarget : ITalkTarget
{
    private const int QueuePackets = 64; // 1.3 s of 20 ms packets
    private readonly RtspUpstreamClient _client;
    private readonly Channel<(byte[] Frame, int Length)> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly byte _channel;
    private readonly Task _pump;
    private readonly Task _run;
    private int _disposed;
    private static long s_framesWritten;

    /// <summary>Frames written to cameras' backchannels by this process (diagnostics).</summary>
    public static long FramesWritten => Interlocked.Read(ref s_framesWritten);

    private OnvifBackchannelTarget(RtspUpstreamClient client, BackchannelDescription description)
    {
        _client = client;
        _channel = description.RtpChannel;
        Track = description.Track;
        _queue = Channel.CreateBounded<(byte[], int)>(
            new BoundedChannelOptions(QueuePackets) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = true },
            dropped => ArrayPool<byte>.Shared.Return(dropped.Item1));
        _pump = Task.Run(PumpAsync);
        _run = Task.Run(() => _client.RunAsync(NoSink.Instance, _stop.Token));
        Completion = Task.WhenAny(_pump, _run).Unwrap();
    }

    public SdpMedia Track { get; }
    public string Kind => "onvif";
    public Task Completion { get; }

    /// <summary>Opens the backchannel; <see cref="DeviceException"/> (NotSupported: none) on failure, the session closed.</summary>
    public static async Task<OnvifBackchannelTarget> OpenAsync(Uri uri, DeviceCredentials credentials, UpstreamOptions options, TimeProvider time, ILogger logger, CancellationToken ct)
    {
        // No media comes back on a backchannel session: the client skips its stall timeout (see ConnectBackchannelAsync).
        var client = new RtspUpstreamClient(uri, credentials, options, time, logger);
        try
        {
            var description = await client.ConnectBackchannelAsync(ct);
            return new OnvifBackchannelTarget(client, description);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    public void OnPacket(bool rtcp, ReadOnlySequence<byte> packet)
    {
        if (Volatile.Read(ref _disposed) != 0 || packet.Length is 0 or > ushort.MaxValue)
        {
            return;
        }
        var length = (int)packet.Length + 4;
        var frame = ArrayPool<byte>.Shared.Rent(length);
        // RFC 2326 §10.12 framing; RTCP (the talker's sender reports) on the odd channel after the RTP one.
        frame[0] = (byte)'$';
        frame[1] = (byte)(_channel + (rtcp ? 1 : 0));
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)packet.Length);
        packet.CopyTo(frame.AsSpan(4));
        if (!_queue.Writer.TryWrite((frame, length)))
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    private async Task PumpAsync()
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token))
            {
                while (reader.TryRead(out var item))
                {
                    try
                    {
                        await _client.WriteInterleavedAsync(item.Frame.AsMemory(0, item.Length), _stop.Token);
                        Interlocked.Increment(ref s_framesWritten);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(item.Frame);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _queue.Writer.TryComplete();
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_pump, _run);
        }
        catch (Exception e) when (e is OperationCanceledException or DeviceException or ObjectDisposedException or IOException)
        {
        }
        while (_queue.Reader.TryRead(out var item))
        {
            ArrayPool<byte>.Shared.Return(item.Frame);
        }
        await _client.DisposeAsync(); // TEARDOWN (with the Require header) and close
        _stop.Dispose();
    }

    private sealed class NoSink : IMediaSink
    {
        public static readonly NoSink Instance = new();
        public void OnPacket(RtpBuffer buffer) => buffer.Release();
        public void OnBatchEnd() { }
    }
}

/// <summary>
/// Two-way audio through the device's own API (<see cref="IDeviceTalkback"/>, Hikvision ISAPI): the viewer is offered
/// PCMU or PCMA (what the device takes) and the RTP payloads — raw G.711 — are written to the device as they come.
/// </summary>
public sealed class DeviceTalkbackTarget : ITalkTarget
{
    private readonly ITalkbackSession _session;
    private readonly int _payloadType;
    private int _disposed;

    public DeviceTalkbackTarget(ITalkbackSession session)
    {
        _session = session;
        var (pt, name) = session.Codec == TalkCodec.Pcma ? (8, "PCMA") : (0, "PCMU");
        _payloadType = pt;
        var track = new SdpMedia { Type = "audio", Protocol = "RTP/AVP", Formats = [pt.ToString(System.Globalization.CultureInfo.InvariantCulture)] };
        track.Attributes.Add(new("rtpmap", $"{pt} {name}/8000"));
        Track = track;
    }

    public SdpMedia Track { get; }
    public string Kind => "isapi";
    public Task Completion => _session.Completion;

    public void OnPacket(bool rtcp, ReadOnlySequence<byte> packet)
    {
        if (rtcp || Volatile.Read(ref _disposed) != 0 || packet.Length is < 12 or > 2048)
        {
            return; // the device's API has no RTCP; oversized packets are not audio
        }
        Span<byte> copy = stackalloc byte[2048];
        scoped ReadOnlySpan<byte> data;
        if (packet.IsSingleSegment)
        {
            data = packet.FirstSpan;
        }
        else
        {
            packet.CopyTo(copy);
            data = copy[..(int)packet.Length];
        }
        // Only the offered codec: anything else would play as noise on the speaker.
        if (RtpPacket.TryParse(data, out var rtp) && rtp.PayloadType == _payloadType && rtp.PayloadLength > 0)
        {
            _session.Write(rtp.Payload);
        }
    }

    public ValueTask DisposeAsync() => Interlocked.Exchange(ref _disposed, 1) == 0 ? _session.DisposeAsync() : ValueTask.CompletedTask;
}
