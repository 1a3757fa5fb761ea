using System.Buffers.Binary;
using System.Diagnostics;

namespace HikShareGateway.Bench.Relay;

/// <summary>
/// A real H.264 clip (encoded once per run with ffmpeg/libx264), split into access units and packetized
/// per RFC 6184 into ready-to-send interleaved RTP frames (<c>$</c>, channel, length, RTP header, payload).
/// Every access unit starts with a latency-stamp SEI (<see cref="LatencyStamp"/>) whose 8 stamp bytes, and
/// the RTP sequence numbers and timestamps, are patched in place when the unit is sent.
/// </summary>
public sealed class H264Clip
{
    public const int Fps = 25;
    /// <summary>Largest RTP payload: a NAL unit above it is sent as FU-A fragments (RFC 6184 §5.8).</summary>
    public const int MaxPayload = 1400;

    private H264Clip(byte[] sps, byte[] pps, List<PacketizedUnit> units, long clipBytes, double seconds)
    {
        Sps = sps;
        Pps = pps;
        Units = units;
        ClipBytes = clipBytes;
        Seconds = seconds;
    }

    public byte[] Sps { get; }
    public byte[] Pps { get; }
    public IReadOnlyList<PacketizedUnit> Units { get; }
    public long ClipBytes { get; }
    public double Seconds { get; }
    public double Mbps => ClipBytes * 8 / Seconds / 1e6;

    /// <summary>The ffmpeg command the clip comes from (printed so that it can be reproduced).</summary>
    /// <param name="profile">libx264's <c>-profile:v</c> (e.g. <c>main</c>, which every browser decodes); null: x264's default (High).</param>
    public static string FfmpegArguments(string output, int seconds, int kbps, string? profile = null) =>
        // noise: testsrc2 alone compresses far below the target rate; grain makes the encoder spend its budget.
        // -bf 0 / fixed GOP: as IP cameras stream (one IDR per second, no B-frames).
        $"-hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate={Fps} -vf noise=alls=12:allf=t -t {seconds} "
        + $"-c:v libx264 {(profile is null ? "" : $"-profile:v {profile} ")}-preset veryfast -bf 0 -g {Fps} -keyint_min {Fps} -sc_threshold 0 -b:v {kbps}k -maxrate {kbps}k -bufsize 1M "
        + $"-bsf:v h264_mp4toannexb -f h264 {output}";

    public static async Task<H264Clip> EncodeAsync(string directory, int seconds = 10, int kbps = 4000, string? profile = null)
    {
        var file = Path.Combine(directory, "clip.h264");
        var psi = new ProcessStartInfo("ffmpeg", FfmpegArguments(file, seconds, kbps, profile)) { RedirectStandardError = true, UseShellExecute = false };
        using var ffmpeg = Process.Start(psi) ?? throw new InvalidOperationException("ffmpeg could not be started (apt-get install ffmpeg)");
        var err = await ffmpeg.StandardError.ReadToEndAsync();
        await ffmpeg.WaitForExitAsync();
        if (ffmpeg.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg failed ({ffmpeg.ExitCode}): {err}");
        }
        return FromAnnexB(await File.ReadAllBytesAsync(file), seconds);
    }

    public static H264Clip FromAnnexB(byte[] data, double seconds)
    {
        byte[]? sps = null, pps = null;
        var aus = new List<List<byte[]>>();
        var current = new List<byte[]>();
        var currentHasVcl = false;
        foreach (var nal in SplitAnnexB(data))
        {
            var type = nal[0] & 0x1f;
            var vcl = type is 1 or 5;
            // A new access unit starts at a non-VCL NAL after a VCL one, or at a slice with first_mb_in_slice = 0
            // (ue(v) 0 is the single bit '1') after a VCL one (H.264 §7.4.1.2.3).
            if (currentHasVcl && (!vcl || (nal.Length > 1 && (nal[1] & 0x80) != 0)))
            {
                aus.Add(current);
                current = [];
                currentHasVcl = false;
            }
            if (type == 7) { sps ??= nal; }
            if (type == 8) { pps ??= nal; }
            if (type == 9) { continue; } // access unit delimiters are not sent over RTP by cameras
            current.Add(nal);
            currentHasVcl |= vcl;
        }
        if (currentHasVcl)
        {
            aus.Add(current);
        }
        if (sps is null || pps is null || aus.Count == 0)
        {
            throw new InvalidOperationException("the clip has no SPS/PPS or no frames");
        }
        var units = aus.Select(au => PacketizedUnit.Build(au)).ToList();
        return new H264Clip(sps, pps, units, data.Length, seconds);
    }

    private static IEnumerable<byte[]> SplitAnnexB(byte[] d)
    {
        var start = -1;
        var i = 0;
        while (i + 3 <= d.Length)
        {
            if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1)
            {
                if (start >= 0)
                {
                    var end = i;
                    while (end > start && d[end - 1] == 0) { end--; } // the zero of a 4-byte start code, trailing_zero_8bits
                    yield return d[start..end];
                }
                i += 3;
                start = i;
                continue;
            }
            i++;
        }
        if (start >= 0 && start < d.Length)
        {
            yield return d[start..];
        }
    }
}

/// <summary>One access unit as interleaved RTP frames in one buffer, with the offsets to patch at send time.</summary>
public sealed class PacketizedUnit
{
    public required byte[] Frames { get; init; }
    /// <summary>Offset of each packet's RTP header in <see cref="Frames"/>.</summary>
    public required int[] RtpOffsets { get; init; }
    /// <summary>Offset of the 8 stamp bytes of the latency SEI.</summary>
    public required int StampOffset { get; init; }
    public required bool Keyframe { get; init; }
    public int PacketCount => RtpOffsets.Length;
    /// <summary>RTP bytes (headers and payloads, without the 4-byte interleave headers).</summary>
    public int RtpBytes => Frames.Length - 4 * RtpOffsets.Length;

    public static PacketizedUnit Build(List<byte[]> nals)
    {
        var payloads = new List<byte[]>();
        var stampSei = LatencyStamp.BuildSeiNal();
        payloads.Add(stampSei);
        foreach (var nal in nals)
        {
            if (nal.Length <= H264Clip.MaxPayload)
            {
                payloads.Add(nal);
                continue;
            }
            // RFC 6184 §5.8 FU-A: indicator (F, NRI, type 28), header (S, E, type), fragment.
            var indicator = (byte)((nal[0] & 0xe0) | 28);
            var pos = 1;
            var chunk = H264Clip.MaxPayload - 2;
            while (pos < nal.Length)
            {
                var n = Math.Min(chunk, nal.Length - pos);
                var p = new byte[n + 2];
                p[0] = indicator;
                p[1] = (byte)((nal[0] & 0x1f) | (pos == 1 ? 0x80 : 0) | (pos + n == nal.Length ? 0x40 : 0));
                Buffer.BlockCopy(nal, pos, p, 2, n);
                payloads.Add(p);
                pos += n;
            }
        }
        var frames = new byte[payloads.Sum(p => 4 + 12 + p.Length)];
        var offsets = new int[payloads.Count];
        var o = 0;
        for (var i = 0; i < payloads.Count; i++)
        {
            var p = payloads[i];
            frames[o] = (byte)'$';
            frames[o + 1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(frames.AsSpan(o + 2), (ushort)(12 + p.Length));
            offsets[i] = o + 4;
            frames[o + 4] = 0x80; // V=2
            frames[o + 5] = (byte)(96 | (i == payloads.Count - 1 ? 0x80 : 0)); // PT 96, marker on the last packet of the unit
            p.CopyTo(frames, o + 16);
            o += 16 + p.Length;
        }
        return new PacketizedUnit
        {
            Frames = frames,
            RtpOffsets = offsets,
            StampOffset = offsets[0] + 12 + LatencyStamp.StampOffsetInNal,
            Keyframe = nals.Any(n => (n[0] & 0x1f) == 5),
        };
    }
}

/// <summary>
/// The send time of an access unit, carried in an SEI NAL (type 6) user_data_unregistered message
/// (H.264 D.1.6: 16-byte UUID, then our payload). The time is <see cref="Stopwatch.GetTimestamp"/>
/// (CLOCK_MONOTONIC in ns on Linux, the same in every process) in 8 bytes of 7 bits each with the top bit
/// set, and the UUID is ASCII: no byte is 0, so no emulation prevention (H.264 §7.4.1) can ever be needed
/// and a relay that depayloads and repayloads passes the bytes unchanged.
/// </summary>
public static class LatencyStamp
{
    public static ReadOnlySpan<byte> Uuid => "HikShareLatency1"u8;
    public const int StampOffsetInNal = 3 + 16;
    private const int PayloadSize = 16 + 8;

    public static byte[] BuildSeiNal()
    {
        var nal = new byte[3 + PayloadSize + 1];
        nal[0] = 6; // forbidden 0, NRI 0, type 6 (SEI)
        nal[1] = 5; // payloadType user_data_unregistered
        nal[2] = PayloadSize;
        Uuid.CopyTo(nal.AsSpan(3));
        Write(nal.AsSpan(StampOffsetInNal), Stopwatch.GetTimestamp());
        nal[^1] = 0x80; // rbsp_trailing_bits
        return nal;
    }

    public static void Write(Span<byte> eight, long timestamp)
    {
        for (var i = 7; i >= 0; i--)
        {
            eight[i] = (byte)(0x80 | (timestamp & 0x7f));
            timestamp >>= 7;
        }
    }

    /// <summary>Reads a stamp from an SEI NAL (starting at its header byte); false if it is another SEI.</summary>
    public static bool TryRead(ReadOnlySpan<byte> nal, out long timestamp)
    {
        timestamp = 0;
        if (nal.Length < StampOffsetInNal + 8 || (nal[0] & 0x1f) != 6 || nal[1] != 5 || nal[2] != PayloadSize || !nal.Slice(3, 16).SequenceEqual(Uuid))
        {
            return false;
        }
        for (var i = 0; i < 8; i++)
        {
            timestamp = (timestamp << 7) | (long)(nal[StampOffsetInNal + i] & 0x7f);
        }
        return true;
    }
}
