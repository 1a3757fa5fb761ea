using System.Buffers.Binary;
using System.Diagnostics;
using HikShareGateway.Core.Devices;
using HikShareGateway.Ffmpeg.Video;
using HikShareGateway.Media;
using VideoCodec = HikShareGateway.Ffmpeg.Video.VideoCodec;

namespace HikShareGateway.Bench.Media;

/// <summary>
/// An in-process camera for the media benchmarks: loops an Annex B clip (H.264 or H.265) as RTP (single NAL units,
/// FU-A / FU above 1200 bytes, RFC 6184 / 7798) at 25 fps into the live stream, starting each session at a random
/// picture (as a viewer joins a camera mid-GOP). No network: the figures are the media path's, not RTSP's.
/// <see cref="SentAt"/> records when each RTP timestamp's last packet was handed over, for latency.
/// </summary>
public sealed class ClipSource(IReadOnlyList<ReadOnlyMemory<byte>> clip, VideoCodec codec, int fps = 25) : IMediaSourceConnector
{
    public System.Collections.Concurrent.ConcurrentDictionary<uint, long> SentAt { get; } = new();

    public Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct) =>
        Task.FromResult<IMediaSource>(new Session(this));

    private sealed class Session(ClipSource owner) : IMediaSource
    {
        public MediaDescription Media { get; } = new([new MediaTrack
        {
            Type = "video",
            EncodingName = owner._codec == VideoCodec.H264 ? "H264" : "H265",
            ClockRate = 90_000,
            PayloadType = 96,
        }]);

        public async Task RunAsync(IMediaSink sink, CancellationToken ct)
        {
            var frame = Random.Shared.Next(owner._clip.Count);
            ushort seq = 1;
            uint ts = (uint)Random.Shared.Next();
            var start = Stopwatch.GetTimestamp();
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / owner._fps));
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                var au = owner._clip[frame++ % owner._clip.Count].Span;
                var nals = new List<(int Start, int Length)>();
                var rest = au;
                while (AnnexB.TryReadNal(ref rest, out var nal))
                {
                    var offset = (int)System.Runtime.CompilerServices.Unsafe.ByteOffset(
                        ref System.Runtime.InteropServices.MemoryMarshal.GetReference(au), ref System.Runtime.InteropServices.MemoryMarshal.GetReference(nal));
                    nals.Add((offset, nal.Length));
                }
                for (int i = 0; i < nals.Count; i++)
                {
                    var nal = au.Slice(nals[i].Start, nals[i].Length);
                    bool last = i == nals.Count - 1;
                    if (nal.Length <= 1200)
                    {
                        Send(sink, nal, [], ref seq, ts, last);
                        continue;
                    }
                    int header = owner._codec == VideoCodec.H264 ? 1 : 2;
                    var body = nal[header..];
                    bool first = true;
                    while (body.Length > 0)
                    {
                        int take = Math.Min(body.Length, 1200);
                        bool end = take == body.Length;
                        byte[] fu = owner._codec == VideoCodec.H264
                            ? [(byte)((nal[0] & 0xE0) | 28), (byte)((first ? 0x80 : 0) | (end ? 0x40 : 0) | (nal[0] & 0x1F))]
                            : [(byte)((nal[0] & 0x81) | (49 << 1)), nal[1], (byte)((first ? 0x80 : 0) | (end ? 0x40 : 0) | ((nal[0] >> 1) & 0x3F))];
                        Send(sink, body[..take], fu, ref seq, ts, last && end);
                        body = body[take..];
                        first = false;
                    }
                }
                owner.SentAt[ts] = Stopwatch.GetTimestamp();
                sink.OnBatchEnd();
                ts += (uint)(90_000 / owner._fps);
            }
        }

        private static void Send(IMediaSink sink, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> prefix, ref ushort seq, uint ts, bool marker)
        {
            var b = RtpBufferPool.Shared.Rent();
            int length = 12 + prefix.Length + payload.Length;
            var p = b.Prepare(length);
            p[0] = 0x80;
            p[1] = (byte)((marker ? 0x80 : 0) | 96);
            BinaryPrimitives.WriteUInt16BigEndian(p[2..], seq++);
            BinaryPrimitives.WriteUInt32BigEndian(p[4..], ts);
            BinaryPrimitives.WriteUInt32BigEndian(p[8..], 0x5eed);
            prefix.CopyTo(p[12..]);
            payload.CopyTo(p[(12 + prefix.Length)..]);
            b.Commit(length, 0, rtcp: false, Stopwatch.GetTimestamp());
            sink.OnPacket(b);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private readonly IReadOnlyList<ReadOnlyMemory<byte>> _clip = clip;
    private readonly VideoCodec _codec = codec;
    private readonly int _fps = fps;
}
