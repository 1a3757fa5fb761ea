using System.Buffers;
using System.Buffers.Binary;

namespace HikShareGateway.Mp4.Boxes;

/// <summary>One sample of a fragment: its duration in the track's timescale, its size and whether it is a sync sample.</summary>
public readonly record struct FragmentSample(uint Duration, int Size, bool IsSync);

/// <summary>
/// Media segments of a fragmented MP4 (ISO/IEC 14496-12 §8.8): moof{mfhd, traf{tfhd, tfdt, trun}} then mdat.
/// The header has a fixed layout for a given sample count, so it is written in one pass with no allocation;
/// the sample bytes follow it (copied by <see cref="Write"/>, or sent by the caller after the header).
/// </summary>
public static class FragmentWriter
{
    /// <summary>§8.8.7.1 tfhd: default-base-is-moof (data offsets count from the moof's first byte; MSE needs it).</summary>
    private const uint DefaultBaseIsMoof = 0x020000;

    /// <summary>§8.8.8.1 trun: data-offset, sample-duration, sample-size and sample-flags present.</summary>
    private const uint TrunFlags = 0x000001 | 0x000100 | 0x000200 | 0x000400;

    /// <summary>§8.8.3.1 sample flags: a sync sample depends on no other (sample_depends_on = 2).</summary>
    private const uint SyncSampleFlags = 0x02000000;

    /// <summary>sample_depends_on = 1 (depends on others) and sample_is_non_sync_sample.</summary>
    private const uint NonSyncSampleFlags = 0x01010000;

    private const int MoofBytesWithoutSamples = 8 + 16 + 8 + 16 + 20 + 20;
    private const int BytesPerSample = 12;
    private const int MdatHeaderBytes = 8;

    /// <summary>The bytes of moof + the mdat header for a fragment of <paramref name="sampleCount"/> samples.</summary>
    public static int HeaderSize(int sampleCount) => MoofBytesWithoutSamples + (BytesPerSample * sampleCount) + MdatHeaderBytes;

    /// <summary>
    /// Writes moof and the mdat header for samples whose bytes (<paramref name="samples"/> sizes, in order) follow
    /// directly. <paramref name="baseMediaDecodeTime"/> is the first sample's decode time in the track's timescale.
    /// </summary>
    public static int WriteHeader(
        Span<byte> destination, uint sequenceNumber, int trackId, ulong baseMediaDecodeTime, ReadOnlySpan<FragmentSample> samples)
    {
        if (samples.IsEmpty)
        {
            throw new ArgumentException("a fragment needs a sample", nameof(samples));
        }

        long payload = 0;
        foreach (FragmentSample sample in samples)
        {
            payload += sample.Size;
        }

        int moofSize = MoofBytesWithoutSamples + (BytesPerSample * samples.Length);
        if (payload + MdatHeaderBytes > uint.MaxValue)
        {
            throw new ArgumentException("a fragment over 4 GiB", nameof(samples));
        }

        var box = new BoxSpanWriter(destination);
        box.Begin("moof"u8);
        box.BeginFull("mfhd"u8, 0, 0);
        box.U32(sequenceNumber);
        box.End();
        box.Begin("traf"u8);
        box.BeginFull("tfhd"u8, 0, DefaultBaseIsMoof);
        box.U32((uint)trackId);
        box.End();
        box.BeginFull("tfdt"u8, 1, 0);
        box.U64(baseMediaDecodeTime);
        box.End();
        box.BeginFull("trun"u8, 0, TrunFlags);
        box.U32((uint)samples.Length);
        box.I32(moofSize + MdatHeaderBytes); // data_offset: from the moof to the first sample byte in mdat
        foreach (FragmentSample sample in samples)
        {
            box.U32(sample.Duration);
            box.U32((uint)sample.Size);
            box.U32(sample.IsSync ? SyncSampleFlags : NonSyncSampleFlags);
        }

        box.End();
        box.End();
        box.End();

        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(box.Position), (uint)(payload + MdatHeaderBytes));
        "mdat"u8.CopyTo(destination.Slice(box.Position + 4));
        return box.Position + MdatHeaderBytes;
    }

    /// <summary>Writes a whole one-sample fragment (header and sample bytes) into <paramref name="output"/>.</summary>
    public static int Write(
        IBufferWriter<byte> output, uint sequenceNumber, int trackId, ulong baseMediaDecodeTime, uint duration, ReadOnlySpan<byte> sample, bool isSync)
    {
        ArgumentNullException.ThrowIfNull(output);
        int headerSize = HeaderSize(1);
        Span<byte> span = output.GetSpan(headerSize + sample.Length);
        ReadOnlySpan<FragmentSample> samples = [new FragmentSample(duration, sample.Length, isSync)];
        WriteHeader(span, sequenceNumber, trackId, baseMediaDecodeTime, samples);
        sample.CopyTo(span.Slice(headerSize));
        output.Advance(headerSize + sample.Length);
        return headerSize + sample.Length;
    }
}
