using System.Buffers;
using HikShareGateway.Core.Streaming;
using HikShareGateway.Media;
using HikShareGateway.Mp4.Muxing;
using HikShareGateway.Mp4.Rtp;

namespace HikShareGateway.Mp4.Streaming;

/// <summary>Which tracks of a <see cref="MediaDescription"/> go into the MP4, and how.</summary>
/// <param name="VideoTrack">Index of the video track in the description.</param>
/// <param name="AudioTrack">Index of the G.711 or AAC track, or -1 (no audio, or audio MP4 cannot carry for browsers).</param>
public sealed record Fmp4Tracks(int VideoTrack, int AudioTrack, Fmp4MuxerOptions Muxer)
{
    /// <summary>AAC: how the RTP payloads' AU headers are laid out (RFC 3640).</summary>
    public AacAuLayout AacLayout { get; init; }

    /// <summary>Null when the stream has no H.264/H.265 video (nothing MSE or players could start on).</summary>
    public static Fmp4Tracks? From(MediaDescription description)
    {
        var video = description.VideoTrack;
        if (video < 0)
        {
            return null;
        }
        var track = description.Tracks[video];
        Muxing.VideoCodec codec;
        switch (track.VideoCodec)
        {
            case Media.VideoCodec.H264: codec = Muxing.VideoCodec.H264; break;
            case Media.VideoCodec.H265: codec = Muxing.VideoCodec.H265; break;
            default: return null;
        }
        var audio = -1;
        var audioCodec = AudioCodec.None;
        var rate = 8000;
        byte[]? aacConfig = null;
        AacAuLayout layout = default;
        for (var i = 0; i < description.Tracks.Count; i++)
        {
            var t = description.Tracks[i];
            // G.711 becomes FLAC (lossless, MSE plays it); other audio (AAC) is left out until a transcoder exists.
            if (t.Type == "audio" && t.EncodingName is "PCMU" or "PCMA")
            {
                audio = i;
                audioCodec = t.EncodingName == "PCMU" ? AudioCodec.Pcmu : AudioCodec.Pcma;
                rate = t.ClockRate is >= 8000 and <= 48000 ? t.ClockRate : 8000;
                break;
            }
            // AAC goes in as it is (mp4a: MSE plays it).
            if (t.Type == "audio" && string.Equals(t.EncodingName, "MPEG4-GENERIC", StringComparison.OrdinalIgnoreCase)
                && t.ClockRate is >= 8000 and <= 48000 && SdpAacFormat.TryParse(t.FormatParameters, out var config, out var aacLayout))
            {
                audio = i;
                audioCodec = AudioCodec.Aac;
                rate = t.ClockRate;
                aacConfig = config;
                layout = aacLayout;
                break;
            }
        }
        return new Fmp4Tracks(video, audio, new Fmp4MuxerOptions
        {
            Video = codec,
            Audio = audioCodec,
            AudioSampleRate = rate,
            AudioSamplesPerPacket = rate / 50,
            AudioConfig = aacConfig,
            ParameterSets = SdpParameterSets.Parse(track.FormatParameters),
        })
        {
            AacLayout = layout,
        };
    }
}

/// <summary>
/// One HTTP viewer of a live stream as an <see cref="IMediaSubscriber"/>: a bounded ring of shared packets under the
/// core's <see cref="SubscriberQueuePolicy"/> (the RTSP viewer's limits: a slow reader skips to the next keyframe, then
/// is dropped; a stalled write drops it), and one writer — <see cref="RunAsync"/>, the response's loop — that
/// depacketizes, muxes (one fragment per frame) and writes to the response.
/// </summary>
/// <remarks>
/// :: Step 1: the stream calls <see cref="Enqueue(ReadOnlySpan{RtpBuffer})"/> once per frame on its read loop, under its lock; each packet is kept by reference
///    (AddRef), never copied, in the media core's <see cref="SubscriberRing{TTag}"/> (grows from 64 to 4096 entries). <see cref="Flush"/> wakes the writer once per batch.
/// :: Step 2: the writer takes up to <see cref="BatchSize"/> packets at a time, feeds the video track to the
///    depacketizer (access units to the muxer) and G.711 to the muxer (FLAC), releases each, then writes what the
///    muxer produced in one write. Dropped packets show as a sequence gap: the muxer resumes at the next keyframe.
/// :: Step 3: <see cref="Abort"/> (revocation, the stream changing, too slow) ends the loop with a cut.
/// No allocation per packet: the ring, the batch array, the depacketizer's and the writer's buffers are reused.
/// </remarks>
public sealed class Fmp4Output : IMediaSubscriber, IDisposable
{
    private const int InitialCapacity = 64;
    private const int MaxCapacity = 4096;
    private const int BatchSize = 64;

    private readonly Lock _gate = new();
    // Each packet's age counts from when it was queued (not received: the cached GOP a joiner gets is older than the
    // queue delay may allow).
    private readonly SubscriberRing<NoTag> _ring = new(InitialCapacity, MaxCapacity);
    private readonly RtpBuffer?[] _batch = new RtpBuffer?[BatchSize];
    private readonly SubscriberQueuePolicy _policy;
    private readonly TimeProvider _time;
    private readonly Fmp4Tracks _tracks;
    private readonly Fmp4Muxer _muxer;
    private readonly NalDepacketizer _depacketizer;
    private readonly ArrayBufferWriter<byte> _out = new(64 * 1024);
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _abort = new();
    private long _sendStartedAt;
    private int _signaled;
    private int _pending;
    private string? _cutReason;
    private string? _completeReason;
    private bool _closed;
    private bool _started;

    public Fmp4Output(Fmp4Tracks tracks, SubscriberQueueLimits limits, TimeProvider time)
    {
        _tracks = tracks;
        _time = time;
        _policy = new SubscriberQueuePolicy(limits, time);
        _muxer = new Fmp4Muxer(tracks.Muxer);
        _depacketizer = tracks.Muxer.Video == Muxing.VideoCodec.H265 ? new H265Depacketizer() : new H264Depacketizer();
    }

    /// <summary>Fragments written to the viewer (init segments included).</summary>
    public long FragmentsWritten { get; private set; }

    /// <summary>Times the queue overflowed and the viewer skipped to the next keyframe.</summary>
    public long Overflows { get; private set; }

    /// <summary>Why the output was cut, once it was.</summary>
    public string? CutReason => Volatile.Read(ref _cutReason);

    /// <summary>The MSE type once the first init segment was made.</summary>
    public string? MimeType => _muxer.MimeType;

    public void WaitForKeyframe(bool hasVideo)
    {
        lock (_gate)
        {
            _policy.WaitForKeyframe(hasVideo);
        }
    }

    public void Enqueue(RtpBuffer buffer, long now)
    {
        string? disconnect;
        lock (_gate)
        {
            disconnect = EnqueueLocked(buffer, now);
        }
        if (disconnect is not null)
        {
            Abort("too slow: " + disconnect);
        }
    }

    /// <summary>A frame's packets (or a read's audio) under one lock; each as <see cref="Enqueue(RtpBuffer, long)"/>.</summary>
    public void Enqueue(ReadOnlySpan<RtpBuffer> packets)
    {
        string? disconnect = null;
        lock (_gate)
        {
            foreach (var buffer in packets)
            {
                if ((disconnect = EnqueueLocked(buffer, buffer.ReceivedAt)) is not null)
                {
                    break;
                }
            }
        }
        if (disconnect is not null)
        {
            Abort("too slow: " + disconnect);
        }
    }

    /// <returns>Why the viewer must be cut, or null.</returns>
    private string? EnqueueLocked(RtpBuffer buffer, long now)
    {
        if (buffer.IsRtcp || (buffer.Track != _tracks.VideoTrack && buffer.Track != _tracks.AudioTrack) || _closed)
        {
            return null;
        }
        var room = _ring.EnsureRoom();
        switch (_policy.Offer(buffer, now, _ring.QueuedBytes, _ring.OldestPacketAge(_time, now), room, Volatile.Read(ref _sendStartedAt), out var disconnect))
        {
            case SubscriberQueuePolicy.Decision.Accept:
                Push(buffer, now);
                break;
            case SubscriberQueuePolicy.Decision.SkipToKeyframe:
                break;
            case SubscriberQueuePolicy.Decision.Overflow:
                Overflows++;
                _ring.Clear();
                if (disconnect is null && buffer.IsKeyframeStart)
                {
                    Push(buffer, now);
                }
                break;
            case SubscriberQueuePolicy.Decision.Stalled:
                break;
        }
        return disconnect;
    }

    public void Flush()
    {
        if (Interlocked.Exchange(ref _pending, 0) == 1 && Interlocked.Exchange(ref _signaled, 1) == 0)
        {
            _signal.Release();
        }
    }

    /// <summary>Cuts the viewer (revocation, a changed stream, too slow). Never blocks: the writer stops on its own thread.</summary>
    public void Abort(string reason)
    {
        if (Interlocked.CompareExchange(ref _cutReason, reason, null) is null)
        {
            // Cancel runs the pending write's callbacks: not on the caller's (the registry's, the read loop's) thread.
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Cancel(), _abort, preferLocal: false);
        }
    }

    /// <summary>
    /// The writer: runs until the viewer leaves (<paramref name="viewerGone"/>, a failed write) or the output is cut.
    /// <paramref name="onStart"/> gets the MSE type just before the first bytes are written (the response's headers).
    /// </summary>
    public async Task<Mp4StreamEnd> RunAsync(Stream output, Action<string> onStart, CancellationToken viewerGone)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(viewerGone, _abort.Token);
        var ct = linked.Token;
        try
        {
            while (true)
            {
                await _signal.WaitAsync(ct).ConfigureAwait(false);
                Volatile.Write(ref _signaled, 0);
                // Read before draining: everything enqueued before Complete is then written below.
                var completed = Volatile.Read(ref _completeReason);
                int n;
                while ((n = TakeBatch()) > 0)
                {
                    for (var i = 0; i < n; i++)
                    {
                        var b = _batch[i]!;
                        _batch[i] = null;
                        Process(b);
                        b.Release();
                    }
                    if (_out.WrittenCount > 0)
                    {
                        if (!_started)
                        {
                            _started = true;
                            onStart(_muxer.MimeType ?? "video/mp4");
                        }
                        await WriteAsync(output, ct).ConfigureAwait(false);
                    }
                }
                if (completed is not null)
                {
                    if (_muxer.FlushAudio(_out))
                    {
                        FragmentsWritten++;
                        await WriteAsync(output, ct).ConfigureAwait(false);
                    }
                    return new Mp4StreamEnd(false, completed);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        return CutReason is { } reason ? new Mp4StreamEnd(true, reason) : new Mp4StreamEnd(false, "the viewer left");
    }

    private async ValueTask WriteAsync(Stream output, CancellationToken ct)
    {
        Volatile.Write(ref _sendStartedAt, Math.Max(1, _time.GetTimestamp()));
        await output.WriteAsync(_out.WrittenMemory, ct).ConfigureAwait(false);
        Volatile.Write(ref _sendStartedAt, 0);
        _out.ResetWrittenCount();
    }

    /// <summary>
    /// The source ended (a recording played to its end): the writer writes what is queued, then returns a clean end
    /// with <paramref name="reason"/>. Called after the last <see cref="Enqueue"/>, on the source's side.
    /// </summary>
    public void Complete(string reason)
    {
        if (Interlocked.CompareExchange(ref _completeReason, reason, null) is null)
        {
            Volatile.Write(ref _pending, 1);
            Flush();
        }
    }

    private void Process(RtpBuffer b)
    {
        if (b.Track == _tracks.VideoTrack)
        {
            var sink = new MuxSink(this);
            _depacketizer.Push(b.PacketSpan, ref sink);
        }
        else if (RtpView.TryRead(b.PacketSpan, out var rtp))
        {
            if (_tracks.Muxer.Audio == AudioCodec.Aac)
            {
                ProcessAac(rtp.Payload, rtp.Timestamp);
            }
            else if (_muxer.WriteAudio(_out, rtp.Payload, rtp.Timestamp) == MuxResult.Written)
            {
                FragmentsWritten++;
            }
        }
    }

    private void ProcessAac(ReadOnlySpan<byte> payload, uint timestamp)
    {
        Span<Range> units = stackalloc Range[16];
        var count = AacAuHeaders.Split(payload, _tracks.AacLayout, units);
        for (var i = 0; i < count; i++)
        {
            if (_muxer.WriteAac(_out, payload[units[i]], timestamp + ((uint)i * _muxer.AacFrameDuration)) == MuxResult.Written)
            {
                FragmentsWritten++;
            }
        }
    }

    private readonly struct MuxSink(Fmp4Output owner) : IAccessUnitSink
    {
        public void OnAccessUnit(in AccessUnit accessUnit)
        {
            if (owner._muxer.WriteVideo(owner._out, accessUnit) == MuxResult.Written)
            {
                owner.FragmentsWritten++;
            }
        }
    }

    private void Push(RtpBuffer buffer, long now)
    {
        _ring.TryAppend(buffer, now);
        Volatile.Write(ref _pending, 1);
    }

    private int TakeBatch()
    {
        lock (_gate)
        {
            var n = 0;
            while (n < BatchSize && _ring.TryTake(out var slot))
            {
                _batch[n++] = slot.Buffer;
            }
            return n;
        }
    }

    /// <summary>After the stream stopped calling in (unsubscribed) and the writer returned: gives back every packet.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            _ring.Clear();
        }
        for (var i = 0; i < _batch.Length; i++)
        {
            _batch[i]?.Release();
            _batch[i] = null;
        }
        // _abort is not disposed: a late Abort (the registry, the stream) may still cancel it.
        _depacketizer.Dispose();
    }
}
