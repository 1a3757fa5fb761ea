using System.Buffers;
using System.Text;

namespace HikShareGateway.Mp4.Boxes;

/// <summary>
/// The initialization segment of a fragmented MP4 (ISO/IEC 14496-12 §8.8, MSE's "ISO BMFF byte stream format"):
/// ftyp, then moov with mvhd, one trak per track with empty sample tables, and mvex/trex announcing fragments.
/// Written once per stream (or when parameter sets change), into the caller's buffer writer.
/// </summary>
public static class InitSegmentWriter
{
    /// <summary>'und' in ISO 639-2/T packed as three 5-bit letters (§8.4.2.3).</summary>
    private const ushort LanguageUndetermined = 0x55C4;

    public static int Write(IBufferWriter<byte> output, IReadOnlyList<Mp4Track> tracks)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(tracks);
        if (tracks.Count == 0)
        {
            throw new ArgumentException("an init segment needs a track", nameof(tracks));
        }

        int bound = 256;
        foreach (Mp4Track track in tracks)
        {
            bound += 1024 + track.Configuration.Length;
        }

        var box = new BoxSpanWriter(output.GetSpan(bound));
        WriteFtyp(ref box);
        box.Begin("moov"u8);
        WriteMvhd(ref box, tracks);
        foreach (Mp4Track track in tracks)
        {
            WriteTrak(ref box, track);
        }

        box.Begin("mvex"u8);
        foreach (Mp4Track track in tracks)
        {
            // §8.8.3: every sample's duration, size and flags come in its trun, so the defaults stay 0.
            box.BeginFull("trex"u8, 0, 0);
            box.U32((uint)track.TrackId);
            box.U32(1); // default_sample_description_index
            box.U32(0);
            box.U32(0);
            box.U32(0);
            box.End();
        }

        box.End();
        box.End();
        output.Advance(box.Position);
        return box.Position;
    }

    private static void WriteFtyp(ref BoxSpanWriter box)
    {
        box.Begin("ftyp"u8);
        box.Bytes("iso5"u8);
        box.U32(512);
        box.Bytes("iso5"u8);
        box.Bytes("iso6"u8);
        box.Bytes("mp41"u8);
        box.End();
    }

    private static void WriteMvhd(ref BoxSpanWriter box, IReadOnlyList<Mp4Track> tracks)
    {
        int nextTrackId = 1;
        foreach (Mp4Track track in tracks)
        {
            nextTrackId = Math.Max(nextTrackId, track.TrackId + 1);
        }

        box.BeginFull("mvhd"u8, 0, 0);
        box.U32(0); // creation_time
        box.U32(0); // modification_time
        box.U32(1000); // timescale
        box.U32(0); // duration: unknown, the fragments carry the media (§8.8.1)
        box.U32(0x00010000); // rate 1.0
        box.U16(0x0100); // volume 1.0
        box.Zeros(10);
        box.UnityMatrix();
        box.Zeros(24); // pre_defined
        box.U32((uint)nextTrackId);
        box.End();
    }

    private static void WriteTrak(ref BoxSpanWriter box, Mp4Track track)
    {
        bool video = track.Kind == Mp4TrackKind.Video;
        box.Begin("trak"u8);

        box.BeginFull("tkhd"u8, 0, 0x000003); // track_enabled | track_in_movie
        box.U32(0);
        box.U32(0);
        box.U32((uint)track.TrackId);
        box.U32(0); // reserved
        box.U32(0); // duration
        box.Zeros(8);
        box.U16(0); // layer
        box.U16(0); // alternate_group
        box.U16(video ? (ushort)0 : (ushort)0x0100);
        box.U16(0);
        box.UnityMatrix();
        box.U32((uint)(track.Width << 16));
        box.U32((uint)(track.Height << 16));
        box.End();

        box.Begin("mdia"u8);
        box.BeginFull("mdhd"u8, 0, 0);
        box.U32(0);
        box.U32(0);
        box.U32((uint)track.Timescale);
        box.U32(0);
        box.U16(LanguageUndetermined);
        box.U16(0);
        box.End();

        box.BeginFull("hdlr"u8, 0, 0);
        box.U32(0); // pre_defined
        box.Bytes(video ? "vide"u8 : "soun"u8);
        box.Zeros(12);
        box.Bytes(video ? "VideoHandler\0"u8 : "SoundHandler\0"u8);
        box.End();

        box.Begin("minf"u8);
        if (video)
        {
            box.BeginFull("vmhd"u8, 0, 1);
            box.Zeros(8); // graphicsmode, opcolor
        }
        else
        {
            box.BeginFull("smhd"u8, 0, 0);
            box.Zeros(4); // balance, reserved
        }

        box.End();

        box.Begin("dinf"u8);
        box.BeginFull("dref"u8, 0, 0);
        box.U32(1);
        box.BeginFull("url "u8, 0, 1); // self-contained: the media is in this file
        box.End();
        box.End();
        box.End();

        box.Begin("stbl"u8);
        box.BeginFull("stsd"u8, 0, 0);
        box.U32(1);
        WriteSampleEntry(ref box, track);
        box.End();
        EmptyTable(ref box, "stts"u8);
        EmptyTable(ref box, "stsc"u8);
        EmptyTable(ref box, "stco"u8);

        box.BeginFull("stsz"u8, 0, 0);
        box.U32(0); // sample_size
        box.U32(0); // sample_count
        box.End();
        box.End(); // stbl
        box.End(); // minf
        box.End(); // mdia
        box.End(); // trak
    }

    private static void WriteSampleEntry(ref BoxSpanWriter box, Mp4Track track)
    {
        box.Begin(FourCc(track.SampleEntry));
        box.Zeros(6); // reserved
        box.U16(1); // data_reference_index
        if (track.Kind == Mp4TrackKind.Video)
        {
            // VisualSampleEntry, §12.1.3.
            box.Zeros(16); // pre_defined, reserved, pre_defined[3]
            box.U16((ushort)track.Width);
            box.U16((ushort)track.Height);
            box.U32(0x00480000); // horizresolution 72 dpi
            box.U32(0x00480000);
            box.U32(0);
            box.U16(1); // frame_count
            box.Zeros(32); // compressorname
            box.U16(0x0018); // depth
            box.U16(0xFFFF); // pre_defined -1
        }
        else
        {
            // AudioSampleEntry, §12.2.3; FLAC: samplerate is 0 when it does not fit 16 bits (the FLAC mapping §3.3.1).
            box.Zeros(8);
            box.U16((ushort)track.Channels);
            box.U16(16); // samplesize
            box.U32(0); // pre_defined, reserved
            box.U32(track.SampleRate <= 0xFFFF ? (uint)track.SampleRate << 16 : 0);
        }

        box.Begin(FourCc(track.ConfigurationBox));
        box.Bytes(track.Configuration);
        box.End();
        box.End();
    }

    /// <summary>A sample table with no entries: in a fragmented file every sample is described by a trun.</summary>
    private static void EmptyTable(ref BoxSpanWriter box, ReadOnlySpan<byte> type)
    {
        box.BeginFull(type, 0, 0);
        box.U32(0); // entry_count
        box.End();
    }

    private static byte[] FourCc(string code) =>
        code.Length == 4 ? Encoding.ASCII.GetBytes(code) : throw new ArgumentException($"not a four-character code: {code}");
}
