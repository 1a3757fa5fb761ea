using System.Buffers;
using System.Buffers.Binary;

namespace HikShareGateway.Mp4.Rtp;

/// <summary>
/// Reassembles RTP packets of one H.264 or H.265 stream into access units of length-prefixed NAL units.
/// Shared by <see cref="H264Depacketizer"/> and <see cref="H265Depacketizer"/>, which only know their
/// payload formats. Pure: no I/O and no allocation per packet (the one buffer grows by doubling, up to
/// <see cref="MaxAccessUnitBytes"/>, and is returned to the pool on <see cref="Dispose"/>).
/// </summary>
/// <remarks>
/// An access unit ends at the marker bit (RFC 6184 §5.1, RFC 7798 §4.1) or, when the marker packet was lost,
/// when a packet with another timestamp arrives (then it is flagged damaged). Loss is seen from the sequence
/// numbers: a gap flags the access unit being assembled as damaged (the lost packets may have been its first
/// ones) and drops a fragmented NAL unit in progress, whose remaining fragments are ignored. Late or duplicated
/// packets (sequence behind the expected one) are ignored. Not thread-safe: one receive loop owns it.
/// </remarks>
public abstract class NalDepacketizer : IDisposable
{
    public const int DefaultMaxAccessUnitBytes = 4 << 20;

    private const int InitialBufferBytes = 64 << 10;

    private byte[] _buffer;
    private int _length;
    private int _fragmentStart = -1;
    private bool _inAccessUnit;
    private uint _timestamp;
    private bool _damaged;
    private bool _keyframe;
    private bool _haveSequence;
    private ushort _expectedSequence;

    protected NalDepacketizer(int maxAccessUnitBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAccessUnitBytes, 1024);
        MaxAccessUnitBytes = maxAccessUnitBytes;
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Min(InitialBufferBytes, maxAccessUnitBytes));
    }

    public int MaxAccessUnitBytes { get; }

    /// <summary>Packets that were not RTP at all.</summary>
    public long MalformedPackets { get; private set; }

    /// <summary>Packets ignored because their sequence number was behind the expected one.</summary>
    public long LatePackets { get; private set; }

    /// <summary>Sequence gaps seen (each gap counts once, whatever its length).</summary>
    public long Gaps { get; private set; }

    /// <summary>Access units that ended with nothing usable in them (everything was lost or malformed); handed on empty and damaged.</summary>
    public long EmptyAccessUnits { get; private set; }

    /// <summary>Feeds one RTP packet; completed access units go to <paramref name="sink"/> before it returns.</summary>
    public void Push<TSink>(ReadOnlySpan<byte> packet, ref TSink sink)
        where TSink : IAccessUnitSink
    {
        if (!RtpView.TryRead(packet, out RtpView rtp))
        {
            MalformedPackets++;
            return;
        }

        bool gap = false;
        if (_haveSequence)
        {
            short ahead = (short)(rtp.SequenceNumber - _expectedSequence);
            if (ahead < 0)
            {
                LatePackets++;
                return;
            }

            if (ahead > 0)
            {
                gap = true;
                Gaps++;
            }
        }

        _haveSequence = true;
        _expectedSequence = (ushort)(rtp.SequenceNumber + 1);

        if (_inAccessUnit && rtp.Timestamp != _timestamp)
        {
            // The marker packet of the previous access unit never came.
            MarkDamaged();
            Complete(ref sink);
        }

        if (!_inAccessUnit)
        {
            _inAccessUnit = true;
            _timestamp = rtp.Timestamp;
        }

        if (gap)
        {
            MarkDamaged();
        }

        ReadPayload(rtp.Payload);

        if (rtp.Marker)
        {
            Complete(ref sink);
        }
    }

    /// <summary>Ends the access unit in progress (for example at the end of a stream) as if its marker had come.</summary>
    public void Flush<TSink>(ref TSink sink)
        where TSink : IAccessUnitSink
    {
        if (_inAccessUnit)
        {
            MarkDamaged();
            Complete(ref sink);
        }
    }

    public void Dispose()
    {
        byte[] buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Reads one RTP payload of the codec's format, calling the Append/Fragment helpers.</summary>
    protected abstract void ReadPayload(ReadOnlySpan<byte> payload);

    /// <summary>Sees every complete NAL unit once (keyframe detection, parameter sets); returns true for a keyframe NAL.</summary>
    protected abstract bool InspectNal(ReadOnlySpan<byte> nal);

    /// <summary>
    /// Goes up each time a parameter set (VPS, SPS, PPS) changes (an init segment is then due); see
    /// <see cref="UpdateParameterSet"/>.
    /// </summary>
    public int ParameterSetsVersion { get; private set; }

    /// <summary>Stores an in-band parameter set NAL unit; a changed one bumps <see cref="ParameterSetsVersion"/>.</summary>
    protected void UpdateParameterSet(ParameterSet set, ReadOnlySpan<byte> nal)
    {
        if (set.Update(nal))
        {
            ParameterSetsVersion++;
        }
    }

    /// <summary>
    /// The units of an aggregation packet, its payload header already skipped: each is a 16-bit size and that many
    /// bytes (STAP-A, RFC 6184 §5.7.1; AP without DONL, RFC 7798 §4.4.2). A unit shorter than
    /// <paramref name="minNalBytes"/> (the codec's NAL header) or running past the end damages the access unit.
    /// </summary>
    protected void ReadAggregation(ReadOnlySpan<byte> units, int minNalBytes)
    {
        while (!units.IsEmpty)
        {
            if (units.Length < 2)
            {
                MarkDamaged();
                return;
            }

            int size = (units[0] << 8) | units[1];
            if (size < minNalBytes || size > units.Length - 2)
            {
                MarkDamaged();
                return;
            }

            AppendNal(units.Slice(2, size));
            units = units[(2 + size)..];
        }
    }

    /// <summary>
    /// One fragmentation unit (FU-A, RFC 6184 §5.8; FU, RFC 7798 §4.4.3): the S bit of <paramref name="fuHeader"/>
    /// opens the NAL unit with <paramref name="nalHeader"/> (rebuilt by the codec from the FU's headers),
    /// <paramref name="data"/> is appended, and the E bit closes it.
    /// </summary>
    protected void ReadFragmentationUnit(byte fuHeader, ReadOnlySpan<byte> nalHeader, ReadOnlySpan<byte> data)
    {
        if ((fuHeader & 0x80) != 0)
        {
            BeginFragment(nalHeader);
        }

        AppendFragment(data);
        if ((fuHeader & 0x40) != 0)
        {
            EndFragment();
        }
    }

    protected void MarkDamaged()
    {
        _damaged = true;
        if (_fragmentStart >= 0)
        {
            _length = _fragmentStart;
            _fragmentStart = -1;
        }
    }

    /// <summary>Adds one whole NAL unit (single NAL packet or one unit of an aggregation packet).</summary>
    protected void AppendNal(ReadOnlySpan<byte> nal)
    {
        if (_fragmentStart >= 0)
        {
            // A whole NAL unit while a fragmented one is open: the open one lost its end.
            MarkDamaged();
        }

        if (nal.IsEmpty || !Reserve(4 + nal.Length))
        {
            MarkDamaged();
            return;
        }

        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_length), nal.Length);
        nal.CopyTo(_buffer.AsSpan(_length + 4));
        _length += 4 + nal.Length;
        _keyframe |= InspectNal(nal);
    }

    /// <summary>Opens a fragmented NAL unit whose header (1 byte H.264, 2 bytes H.265) is rebuilt by the caller.</summary>
    protected void BeginFragment(ReadOnlySpan<byte> nalHeader)
    {
        if (_fragmentStart >= 0)
        {
            MarkDamaged();
        }

        if (!Reserve(4 + nalHeader.Length))
        {
            MarkDamaged();
            return;
        }

        _fragmentStart = _length;
        nalHeader.CopyTo(_buffer.AsSpan(_length + 4));
        _length += 4 + nalHeader.Length;
    }

    protected void AppendFragment(ReadOnlySpan<byte> data)
    {
        if (_fragmentStart < 0)
        {
            // A middle or end fragment without its start (lost, or a malformed stream).
            _damaged = true;
            return;
        }

        if (!Reserve(data.Length))
        {
            MarkDamaged();
            return;
        }

        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
    }

    protected void EndFragment()
    {
        if (_fragmentStart < 0)
        {
            return;
        }

        int nalLength = _length - _fragmentStart - 4;
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_fragmentStart), nalLength);
        ReadOnlySpan<byte> nal = _buffer.AsSpan(_fragmentStart + 4, nalLength);
        _fragmentStart = -1;
        _keyframe |= InspectNal(nal);
    }

    private bool Reserve(int bytes)
    {
        long needed = (long)_length + bytes;
        if (needed > MaxAccessUnitBytes)
        {
            return false;
        }

        if (needed > _buffer.Length)
        {
            int size = (int)Math.Min(MaxAccessUnitBytes, Math.Max(needed, (long)_buffer.Length * 2));
            byte[] larger = ArrayPool<byte>.Shared.Rent(size);
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        return true;
    }

    private void Complete<TSink>(ref TSink sink)
        where TSink : IAccessUnitSink
    {
        if (_fragmentStart >= 0)
        {
            // The access unit ended inside a fragmented NAL unit: its end fragment was lost.
            MarkDamaged();
        }

        // An access unit whose every NAL unit was lost is still handed on, empty and damaged: the frames after
        // it may reference it, so the consumer must learn that it is missing.
        if (_length == 0)
        {
            EmptyAccessUnits++;
            _damaged = true;
        }

        sink.OnAccessUnit(new AccessUnit(_buffer.AsSpan(0, _length), _timestamp, _keyframe, _damaged));

        _length = 0;
        _inAccessUnit = false;
        _damaged = false;
        _keyframe = false;
    }
}
