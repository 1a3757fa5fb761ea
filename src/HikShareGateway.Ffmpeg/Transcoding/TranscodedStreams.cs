using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Ffmpeg.Video;
using HikShareGateway.Media;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Ffmpeg.Transcoding;

/// <summary>
/// <see cref="IDerivedStreams"/> over FFmpeg: a second <see cref="LiveRelay"/> whose sources are transcoders of the
/// first relay's streams, so one transcoder runs per (stream, format) however many outputs use it, and it stops when
/// the last lease goes (no linger: a transcoder is the expensive part). Each transcoder holds a
/// <see cref="TranscoderLimiter"/> slot (<c>Media:MaxTranscoders</c>); beyond it a new one is refused with a reason.
/// </summary>
public sealed class TranscodedStreams : IDerivedStreams, IAsyncDisposable
{
    private readonly TranscoderLimiter _limiter;
    private readonly LiveRelay _h264;
    private readonly LiveRelay _opus;

    /// <param name="audioBitrateKbps">The Opus bitrate of AAC → Opus transcoders.</param>
    public TranscodedStreams(LiveRelay live, TranscoderLimiter limiter, VideoTranscoderOptions video, TimeSpan readyTimeout, TimeProvider time, ILoggerFactory loggers,
        int audioBitrateKbps = 32)
    {
        _limiter = limiter;
        var logger = loggers.CreateLogger<TranscodedStreams>();
        _h264 = new LiveRelay(new Connector(live, limiter, readyTimeout, (lease, media, slot) =>
                media.VideoCodec is HikShareGateway.Media.VideoCodec.H264 or HikShareGateway.Media.VideoCodec.H265
                    ? new TranscodingSource(lease, media, slot, video, time, logger)
                    : throw new DeviceException(DeviceErrorKind.NotSupported, "the stream has no H.264 or H.265 video to transcode")),
            new RelayOptions { UpstreamLinger = TimeSpan.Zero }, time, loggers, GatewayMetrics.Unexported);
        _opus = new LiveRelay(new Connector(live, limiter, readyTimeout,
                (lease, media, slot) => AudioTranscodingSource.Create(lease, media, slot, audioBitrateKbps, time, logger)),
            new RelayOptions { UpstreamLinger = TimeSpan.Zero }, time, loggers, GatewayMetrics.Unexported);
    }

    /// <summary>The AAC → Opus streams running now (one transcoder each).</summary>
    public IReadOnlyList<LiveStream> OpusStreams => _opus.Streams;

    /// <summary>The H.264 streams running now (one transcoder each).</summary>
    public IReadOnlyList<LiveStream> H264Streams => _h264.Streams;

    public bool TryAcquire(string deviceId, int channel, StreamKind kind, DerivedFormat format, out LiveStreamLease? lease, out string? reason)
    {
        lease = null;
        var relay = format switch { DerivedFormat.H264 => _h264, DerivedFormat.OpusAudio => _opus, _ => null };
        if (relay is null)
        {
            reason = "no transcoder for " + format;
            return false;
        }
        var key = $"{deviceId}/{channel}/{(kind == StreamKind.Sub ? "sub" : "main")}";
        bool running = false;
        foreach (var s in relay.Streams)
        {
            running |= s.Key == key;
        }
        // A running transcoder is shared; a new one needs a free slot (taken for real by the connector: if two callers
        // race for the last one, the loser's stream fails to start with the same reason).
        if (!running)
        {
            if (!_limiter.TryAcquire(out var probe, out reason))
            {
                return false;
            }
            probe!.Dispose();
        }
        lease = relay.Acquire(deviceId, channel, kind);
        reason = null;
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _h264.DisposeAsync().ConfigureAwait(false);
        await _opus.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// A transcoder's upstream: a slot of <c>Media:MaxTranscoders</c>, then the original stream, ready; <paramref name="create"/>
    /// makes the transcoding source from them (or throws a <see cref="DeviceException"/> when the stream cannot be
    /// transcoded). On any failure the lease and the slot are given back.
    /// </summary>
    private sealed class Connector(LiveRelay live, TranscoderLimiter limiter, TimeSpan readyTimeout,
        Func<LiveStreamLease, MediaDescription, TranscoderLease, IMediaSource> create) : IMediaSourceConnector
    {
        public async Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct)
        {
            if (!limiter.TryAcquire(out var slot, out var reason))
            {
                throw new DeviceException(DeviceErrorKind.Failed, "transcoding refused: " + reason);
            }
            LiveStreamLease? lease = null;
            try
            {
                lease = live.Acquire(deviceId, channel, kind);
                MediaDescription media;
                try
                {
                    media = await lease.Stream.WaitReadyAsync(readyTimeout, ct).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    throw new DeviceException(DeviceErrorKind.Timeout, "the device's stream did not start in time");
                }
                return create(lease, media, slot!);
            }
            catch
            {
                lease?.Dispose();
                slot!.Dispose();
                throw;
            }
        }
    }
}
