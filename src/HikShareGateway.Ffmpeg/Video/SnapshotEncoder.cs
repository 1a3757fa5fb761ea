using System.Buffers;
using HikShareGateway.Ffmpeg.Native;

namespace HikShareGateway.Ffmpeg.Video;

/// <summary>What a snapshot produced.</summary>
/// <param name="Width">JPEG width (the requested width).</param>
/// <param name="Height">JPEG height (the source's aspect ratio, even).</param>
/// <param name="SourceWidth">Decoded picture width.</param>
/// <param name="SourceHeight">Decoded picture height.</param>
/// <param name="FramesDecoded">Pictures the GOP gave; the JPEG is the last one.</param>
/// <param name="Length">JPEG bytes written to the output.</param>
/// <param name="DecodeErrors">Access units the decoder rejected (skipped).</param>
public sealed record SnapshotInfo(int Width, int Height, int SourceWidth, int SourceHeight, int FramesDecoded, int Length, int DecodeErrors);

/// <summary>
/// Snapshots: decodes a GOP (parameter sets, then the access units from the keyframe on), scales the last
/// decodable picture to a width keeping the aspect ratio (swscale) and encodes it as JPEG (mjpeg).
/// </summary>
/// <remarks>
/// Stateless and thread-safe: each call has its own decoder, scaler and encoder, freed before it returns, so memory is
/// that of one decoder (its reference frames) plus one picture at the source and at the target size. CPU-bound and
/// synchronous: call it off the packet path (a worker, bounded by the caller).
/// Steps: 1 build the keyframe packet (parameter sets + first access unit), 2 decode every access unit keeping the
/// latest picture, 3 flush the decoder, 4 scale to YUVJ420P at the asked width, 5 encode the JPEG.
/// </remarks>
public sealed class SnapshotEncoder
{
    public const int MinWidth = 16;
    public const int MaxWidth = 7680;

    private readonly int _quality;

    /// <param name="jpegQuality">mjpeg quantiser, 2 (best, largest) to 31; 4 looks like a camera's own snapshot.</param>
    public SnapshotEncoder(int jpegQuality = 4)
    {
        _quality = Math.Clamp(jpegQuality, 2, 31);
    }

    /// <summary>JPEG bytes of the last decodable picture; see <see cref="Encode(VideoCodec, IReadOnlyList{ReadOnlyMemory{byte}}, IReadOnlyList{ReadOnlyMemory{byte}}, int, IBufferWriter{byte}, NalFraming)"/>.</summary>
    public byte[] Encode(VideoCodec codec, IReadOnlyList<ReadOnlyMemory<byte>> parameterSets, IReadOnlyList<ReadOnlyMemory<byte>> accessUnits,
        int width, NalFraming framing = NalFraming.AnnexB)
    {
        var output = new ArrayBufferWriter<byte>(64 * 1024);
        Encode(codec, parameterSets, accessUnits, width, output, framing);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Writes a JPEG of the last decodable picture of the GOP to <paramref name="output"/>.</summary>
    /// <param name="parameterSets">NAL units without start codes (VPS, SPS, PPS — e.g. from sprop-parameter-sets); may be
    /// empty when the keyframe access unit carries them in-band.</param>
    /// <param name="accessUnits">The GOP, keyframe first.</param>
    /// <param name="width">JPEG width, <see cref="MinWidth"/>..<see cref="MaxWidth"/>.</param>
    /// <exception cref="MediaProcessingException">FFmpeg off, codec missing, or no picture decodable (<see cref="MediaError.InvalidInput"/>).</exception>
    public SnapshotInfo Encode(VideoCodec codec, IReadOnlyList<ReadOnlyMemory<byte>> parameterSets, IReadOnlyList<ReadOnlyMemory<byte>> accessUnits,
        int width, IBufferWriter<byte> output, NalFraming framing = NalFraming.AnnexB)
    {
        ArgumentNullException.ThrowIfNull(parameterSets);
        ArgumentNullException.ThrowIfNull(accessUnits);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, MinWidth);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, MaxWidth);
        FfmpegLibraries.EnsureAvailable();

        using var decoder = new VideoDecoder(codec);
        using var latest = FrameHandle.Allocate();
        var packet = new ArrayBufferWriter<byte>(256 * 1024);
        int frames = 0;
        for (int i = 0; i < accessUnits.Count; i++)
        {
            // :: Step 1: the keyframe goes with the parameter sets in front, as one packet.
            packet.Clear();
            if (i == 0)
            {
                foreach (var ps in parameterSets)
                {
                    AnnexB.WriteNal(packet, ps.Span);
                }
            }
            if (!Append(packet, accessUnits[i].Span, framing))
            {
                continue;
            }
            // :: Step 2: decode, keeping the newest picture.
            frames += decoder.Decode(packet.WrittenSpan, i, latest);
        }
        // :: Step 3: the decoder may hold pictures back (reordering); drain them.
        frames += decoder.Flush(latest);
        if (frames == 0)
        {
            throw new MediaProcessingException(MediaError.InvalidInput,
                $"no decodable picture in {accessUnits.Count} access units ({decoder.Errors} rejected{(decoder.LastError is null ? "" : ": " + decoder.LastError)})");
        }

        // :: Step 4: scale to the asked width, aspect ratio kept, full-range 4:2:0 for JPEG.
        int height = FrameScaler.HeightFor(latest.Width, latest.Height, width);
        using var scaler = new FrameScaler();
        var scaled = scaler.Scale(latest, width, height, PixelFormat.Yuvj420P);

        // :: Step 5: one JPEG.
        using var jpeg = new JpegEncoder(width, height, _quality);
        int length = jpeg.Encode(scaled, output);
        return new SnapshotInfo(width, height, latest.Width, latest.Height, frames, length, decoder.Errors);
    }

    private static bool Append(ArrayBufferWriter<byte> packet, ReadOnlySpan<byte> accessUnit, NalFraming framing)
    {
        if (framing == NalFraming.LengthPrefixed)
        {
            return AnnexB.TryConvertLengthPrefixed(accessUnit, packet);
        }
        accessUnit.CopyTo(packet.GetSpan(accessUnit.Length));
        packet.Advance(accessUnit.Length);
        return true;
    }
}
