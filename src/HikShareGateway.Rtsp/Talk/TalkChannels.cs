using System.Buffers;
using System.Buffers.Binary;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Devices;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Transport;
using HikShareGateway.Rtsp.Upstream;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Talk;

/// <summary>
/// <see cref="ITalkChannels"/> for the WebRTC output: the RTSP talk path's floor (<see cref="TalkService.Floor"/>, so an
/// RTSP talker and a browser exclude each other) and its device side (<see cref="TalkService.OpenTargetAsync"/>: ONVIF
/// backchannel, then the device's API).
/// <para>
/// :: Step 1: the floor → <see cref="TalkRefusal.Busy"/>.
/// :: Step 2: the device side within the upstream timeout → NoBackchannel / Timeout / DeviceFailed.
/// :: Step 3: the codecs of the device's backchannel track (PCMU/PCMA with their payload types); a device that takes
///    neither is NoBackchannel for a browser (its G.726/AAC would need another encoder).
/// </para>
/// </summary>
public sealed partial class TalkChannels(TalkService talk, ILogger<TalkChannels> logger) : ITalkChannels
{
    public async Task<TalkOpenResult> OpenAsync(DeviceInfo device, ChannelInfo channel, StreamKind kind, string remote, CancellationToken ct)
    {
        // :: Step 1
        var floor = talk.Floor.TryTake(device.DeviceId, channel.Channel);
        if (floor is null)
        {
            LogBusy(logger, device.DeviceId, channel.Channel, remote);
            return TalkOpenResult.Refused(TalkRefusal.Busy, "someone else is talking on this channel");
        }
        ITalkTarget? target = null;
        try
        {
            // :: Step 2
            using (var deadline = new Deadline(talk.Timeout, talk.Time, ct))
            {
                try
                {
                    target = await talk.OpenTargetAsync(device, channel, kind, deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    floor.Dispose();
                    return TalkOpenResult.Refused(TalkRefusal.Timeout, "the device did not open two-way audio in time");
                }
            }
            if (target is null)
            {
                floor.Dispose();
                return TalkOpenResult.Refused(TalkRefusal.NoBackchannel, "the device has no audio backchannel");
            }
            // :: Step 3
            var codecs = CodecsOf(target.Track, out var pcmuType, out var pcmaType);
            if (codecs.Count == 0)
            {
                await target.DisposeAsync().ConfigureAwait(false);
                floor.Dispose();
                return TalkOpenResult.Refused(TalkRefusal.NoBackchannel, "the device's backchannel takes no G.711");
            }
            LogOpened(logger, device.DeviceId, channel.Channel, target.Kind, remote);
            return new TalkOpenResult(new Channel(target, floor, codecs, pcmuType, pcmaType), TalkRefusal.None, "opened");
        }
        catch (Exception e) when (e is DeviceException or TimeoutException)
        {
            if (target is not null)
            {
                await target.DisposeAsync().ConfigureAwait(false);
            }
            floor.Dispose();
            return e is TimeoutException || e is DeviceException { Kind: DeviceErrorKind.Timeout }
                ? TalkOpenResult.Refused(TalkRefusal.Timeout, "the device did not open two-way audio in time")
                : TalkOpenResult.Refused(TalkRefusal.DeviceFailed, "the device failed to open two-way audio");
        }
        catch
        {
            if (target is not null)
            {
                await target.DisposeAsync().ConfigureAwait(false);
            }
            floor.Dispose();
            throw;
        }
    }

    /// <summary>PCMU/PCMA among the track's formats (static or by rtpmap), in the device's order.</summary>
    internal static List<TalkCodec> CodecsOf(SdpMedia track, out int pcmuType, out int pcmaType)
    {
        pcmuType = pcmaType = -1;
        var codecs = new List<TalkCodec>(2);
        foreach (var format in track.Formats)
        {
            if (!int.TryParse(format, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pt) || pt > 127)
            {
                continue;
            }
            var name = RtpMapName(track, format) ?? (pt == 0 ? "PCMU" : pt == 8 ? "PCMA" : null);
            if (string.Equals(name, "PCMU", StringComparison.OrdinalIgnoreCase) && pcmuType < 0)
            {
                pcmuType = pt;
                codecs.Add(TalkCodec.Pcmu);
            }
            else if (string.Equals(name, "PCMA", StringComparison.OrdinalIgnoreCase) && pcmaType < 0)
            {
                pcmaType = pt;
                codecs.Add(TalkCodec.Pcma);
            }
        }
        return codecs;
    }

    private static string? RtpMapName(SdpMedia track, string format)
    {
        foreach (var a in track.Attributes)
        {
            if (!a.Key.Equals("rtpmap", StringComparison.OrdinalIgnoreCase) || a.Value is not { } v)
            {
                continue;
            }
            var sp = v.IndexOf(' ');
            if (sp > 0 && v.AsSpan(0, sp).Trim().SequenceEqual(format))
            {
                var enc = v[(sp + 1)..].Trim();
                var slash = enc.IndexOf('/');
                return slash < 0 ? enc : enc[..slash];
            }
        }
        return null;
    }

    /// <summary>
    /// An open speaker: each frame gets the gateway's RTP header (one SSRC, consecutive sequence numbers, the caller's
    /// 8 kHz timestamps, the device's payload type) and goes to the target, which copies it before returning.
    /// </summary>
    private sealed class Channel : ITalkChannel
    {
        private const int MaxFrame = 1200;
        private readonly ITalkTarget _target;
        private readonly IDisposable _floor;
        private readonly int _pcmuType, _pcmaType;
        private readonly uint _ssrc = (uint)Random.Shared.NextInt64(1, uint.MaxValue);
        private readonly byte[] _packet = new byte[12 + MaxFrame];
        private readonly Lock _gate = new();
        private ushort _sequence = (ushort)Random.Shared.Next(0, ushort.MaxValue);
        private long _frames;
        private int _disposed;

        public Channel(ITalkTarget target, IDisposable floor, IReadOnlyList<TalkCodec> codecs, int pcmuType, int pcmaType)
        {
            _target = target;
            _floor = floor;
            Codecs = codecs;
            _pcmuType = pcmuType;
            _pcmaType = pcmaType;
        }

        public IReadOnlyList<TalkCodec> Codecs { get; }
        public long FramesWritten => Interlocked.Read(ref _frames);
        public Task Completion => _target.Completion;

        public void Write(TalkCodec codec, ReadOnlySpan<byte> samples, uint timestamp, bool marker)
        {
            var pt = codec == TalkCodec.Pcma ? _pcmaType : _pcmuType;
            if (pt < 0 || samples.IsEmpty || samples.Length > MaxFrame || Volatile.Read(ref _disposed) != 0)
            {
                return;
            }
            lock (_gate)
            {
                var p = _packet;
                p[0] = 0x80; // RFC 3550 §5.1: version 2, no padding, no extension, no CSRC
                p[1] = (byte)((marker ? 0x80 : 0) | pt);
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), _sequence++);
                BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(4), timestamp);
                BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(8), _ssrc);
                samples.CopyTo(p.AsSpan(12));
                _target.OnPacket(false, new ReadOnlySequence<byte>(p, 0, 12 + samples.Length));
            }
            Interlocked.Increment(ref _frames);
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            try
            {
                await _target.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                _floor.Dispose();
            }
        }
    }

    [LoggerMessage(EventId = 2610, Level = LogLevel.Information, Message = "Two-way audio (WebRTC) on {DeviceId} channel {Channel} via {Kind} for {Remote}")]
    private static partial void LogOpened(ILogger logger, string deviceId, int channel, string kind, string remote);

    [LoggerMessage(EventId = 2611, Level = LogLevel.Information, Message = "Two-way audio (WebRTC) on {DeviceId} channel {Channel} refused to {Remote}: another talker holds it")]
    private static partial void LogBusy(ILogger logger, string deviceId, int channel, string remote);
}
