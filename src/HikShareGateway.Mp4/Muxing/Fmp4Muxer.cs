using System.Buffers;
using System.Buffers.Binary;
using HikShareGateway.Mp4.Audio;
using HikShareGateway.Mp4.Boxes;
using HikShareGateway.Mp4.Codecs;
using HikShareGateway.Mp4.Rtp;

namespace HikShareGateway.Mp4.Muxing;

public enum VideoCodec
{
    H264,
    H265,
}

public enum AudioCodec
{
    None,

    /// <summary>G.711 µ-law (RTP payload type 0), written as FLAC.</summary>
    Pcmu,

    /// <summary>G.711 A-law (RTP payload type 8), written as FLAC.</summary>
    Pcma,

    /// <summary>AAC (RFC 3640 access units), written as it came: mp4a with the <see cref="Fmp4MuxerOptions.AudioConfig"/>.</summary>
    Aac,
}

/// <summary>What the muxer writes: the video codec, and the camera's audio if any. Validated by <see cref="Validate"/>.</summary>
public sealed record Fmp4MuxerOptions
{
    public VideoCodec Video { get; init; } = VideoCodec.H264;

    public AudioCodec Audio { get; init; } = AudioCodec.None;

    /// <summary>The audio RTP clock, which for G.711 is its sample rate (RFC 3551 §4.5.14: 8000); for AAC the SDP's rate.</summary>
    public int AudioSampleRate { get; init; } = 8000;

    /// <summary>AAC: the AudioSpecificConfig (the fmtp's <c>config=</c>, RFC 3640 §4.1), required.</summary>
    public byte[]? AudioConfig { get; init; }

    /// <summary>
    /// Parameter sets from the SDP (sprop-parameter-sets, RFC 6184 §8.1; sprop-vps/sps/pps, RFC 7798 §7.1), as
    /// NAL units: used when a keyframe carries none in band. In-band ones, when present, win.
    /// </summary>
    public IReadOnlyList<byte[]> ParameterSets { get; init; } = [];

    /// <summary>The usual G.711 samples per RTP packet (20 ms at 8 kHz), for FLAC's STREAMINFO.</summary>
    public int AudioSamplesPerPacket { get; init; } = 160;

    /// <summary>
    /// G.711 packets per audio fragment. 1 (the default) is the lowest latency; each fragment costs 108 bytes of
    /// moof/mdat, 43 kbit/s at 50 packets/s, so a low-bitrate stream may group 5 (100 ms) to cut that to 9 kbit/s.
    /// </summary>
    public int AudioPacketsPerFragment { get; init; } = 1;

    /// <summary>
    /// After a damaged access unit (packets lost), video is dropped until the next keyframe rather than
    /// decoded with missing slices.
    /// </summary>
    public bool DropDamagedUntilKeyframe { get; init; } = true;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (AudioSampleRate is < 8000 or > 48000)
        {
            errors.Add($"AudioSampleRate must be 8000–48000 Hz (was {AudioSampleRate})");
        }

        if (AudioSamplesPerPacket is < 16 or > FlacEncoder.MaxBlockSize)
        {
            errors.Add($"AudioSamplesPerPacket must be 16–{FlacEncoder.MaxBlockSize} (was {AudioSamplesPerPacket})");
        }

        foreach (byte[] nal in ParameterSets)
        {
            if (nal is null || nal.Length is 0 or > ParameterSet.MaxBytes)
            {
                errors.Add($"ParameterSets must be NAL units of 1–{ParameterSet.MaxBytes} bytes");
                break;
            }
        }

        if (Audio == AudioCodec.Aac && (AudioConfig is not { Length: > 0 and <= 64 } || !AudioSpecificConfig.TryParse(AudioConfig, out _)))
        {
            errors.Add("AAC needs its AudioSpecificConfig (AudioConfig: 1–64 bytes naming an object type, rate and channels)");
        }

        if (AudioPacketsPerFragment is < 1 or > 50)
        {
            errors.Add($"AudioPacketsPerFragment must be 1–50 (was {AudioPacketsPerFragment})");
        }

        return errors;
    }
}

/// <summary>What a call to the muxer did with its input.</summary>
public enum MuxResult
{
    /// <summary>A fragment was written (after an init segment when one was due).</summary>
    Written,

    /// <summary>Audio kept for the next fragment (<see cref="Fmp4MuxerOptions.AudioPacketsPerFragment"/>); nothing written.</summary>
    Buffered,

    /// <summary>Nothing yet: no keyframe with parameter sets has come, so there is no init segment.</summary>
    WaitingForKeyframe,

    /// <summary>Dropped: a damaged access unit, or one after it before the next keyframe.</summary>
    DroppedDamaged,

    /// <summary>Dropped: malformed or over the bounds (no NAL units, a G.711 packet over the FLAC block bound).</summary>
    DroppedInvalid,
}

/// <summary>
/// Live fragmented MP4 from access units and G.711 packets (contract §5.2): the init segment at the first
/// keyframe that carries its parameter sets (again whenever they change), then one moof+mdat per video frame
/// and per audio packet. Pure and synchronous: it writes into the caller's <see cref="IBufferWriter{T}"/>,
/// allocating only when it builds an init segment. Not thread-safe: one producer calls it.
/// </summary>
/// <remarks>
/// Times come from the RTP clocks: video on 90 kHz, audio on its sample rate, both starting at 0 with the
/// init segment and kept continuous across RTP wraps (<see cref="RtpTimeline"/>). A live frame's duration is
/// not known until the next one arrives, so each fragment carries the previous interval (the VUI frame rate,
/// else 40 ms, for the first); its tfdt is exact, which is what MSE and players place it by. Composition
/// offsets are not written: streams with B-frames (which cameras do not send) would play out of order.
/// </remarks>
public sealed class Fmp4Muxer
{
    public const int VideoTrackId = 1;
    public const int AudioTrackId = 2;

    private readonly Fmp4MuxerOptions _options;
    private readonly FlacEncoder? _flac;
    private RtpTimeline _videoTime;
    private RtpTimeline _audioTime;
    private ulong _lastVideoTime;
    private uint _videoDuration = 3600;
    private uint _sequence;
    private bool _dropping;
    private bool _droppedSinceLastVideo;
    private byte[] _parameterSets = [];
    private readonly byte[] _outOfBandParameterSets;
    private readonly byte[] _audioStaging = [];
    private readonly FragmentSample[] _audioSamples = [];
    private int _stagedCount;
    private int _stagedBytes;
    private ulong _stagedStart;
    private ulong _stagedEnd;
    private ulong _audioEnd;
    private readonly AudioSpecificConfig? _aac;
    private readonly FragmentSample[] _aacSample = new FragmentSample[1];

    public Fmp4Muxer(Fmp4MuxerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }

        _options = options;
        _outOfBandParameterSets = LengthPrefixed(options.ParameterSets);
        if (options.Audio == AudioCodec.Aac)
        {
            AudioSpecificConfig.TryParse(options.AudioConfig, out AudioSpecificConfig aac);
            _aac = aac;
            // 1024 samples per access unit (AAC-LC), on the RTP clock (the same rate unless the SDP says otherwise).
            AacFrameDuration = (uint)(1024L * options.AudioSampleRate / aac.SampleRate);
        }
        else if (options.Audio != AudioCodec.None)
        {
            _flac = new FlacEncoder(options.AudioSampleRate, options.AudioSamplesPerPacket);
            int nominal = options.AudioPacketsPerFragment * FlacEncoder.MaxFrameBytes(options.AudioSamplesPerPacket * 2);
            _audioStaging = new byte[Math.Max(nominal, FlacEncoder.MaxFrameBytes(FlacEncoder.MaxBlockSize))];
            _audioSamples = new FragmentSample[options.AudioPacketsPerFragment];
        }
    }

    /// <summary>AAC: one access unit's duration on the audio RTP clock (1024 samples); 0 for other audio.</summary>
    public uint AacFrameDuration { get; }

    /// <summary>The tracks of the current init segment (empty until the first one).</summary>
    public IReadOnlyList<Mp4Track> Tracks { get; private set; } = [];

    /// <summary>The MSE type, e.g. <c>video/mp4; codecs="avc1.42C01E,flac"</c>; null until the first init segment.</summary>
    public string? MimeType { get; private set; }

    /// <summary>How many init segments were written (more than one when the parameter sets changed).</summary>
    public int InitSegments { get; private set; }

    /// <summary>
    /// Writes a video access unit (length-prefixed NAL units, as <see cref="NalDepacketizer"/> gives them):
    /// first an init segment when this keyframe starts the stream or changes its parameter sets.
    /// </summary>
    public MuxResult WriteVideo(IBufferWriter<byte> output, in AccessUnit accessUnit)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (accessUnit.IsDamaged && _options.DropDamagedUntilKeyframe)
        {
            _dropping = true;
            _droppedSinceLastVideo = true;
            return MuxResult.DroppedDamaged;
        }

        if (accessUnit.Data.IsEmpty)
        {
            return MuxResult.DroppedInvalid;
        }

        if (accessUnit.IsKeyframe)
        {
            _dropping = false;
            if (!EnsureInitSegment(output, accessUnit.Data) && Tracks.Count == 0)
            {
                return MuxResult.WaitingForKeyframe;
            }
        }
        else if (Tracks.Count == 0)
        {
            return MuxResult.WaitingForKeyframe;
        }
        else if (_dropping)
        {
            _droppedSinceLastVideo = true;
            return MuxResult.DroppedDamaged;
        }

        // The interval to the previous frame is the next duration guess, unless frames were dropped between.
        ulong time = _videoTime.Extend(accessUnit.RtpTimestamp);
        if (!_droppedSinceLastVideo && time > _lastVideoTime && time - _lastVideoTime <= 90_000)
        {
            _videoDuration = (uint)(time - _lastVideoTime);
        }

        _lastVideoTime = time;
        _droppedSinceLastVideo = false;
        FragmentWriter.Write(output, ++_sequence, VideoTrackId, time, _videoDuration, accessUnit.Data, accessUnit.IsKeyframe);
        return MuxResult.Written;
    }

    /// <summary>
    /// Writes one G.711 RTP payload as one FLAC frame: in its own fragment, or kept until
    /// <see cref="Fmp4MuxerOptions.AudioPacketsPerFragment"/> have come (then <see cref="MuxResult.Buffered"/>).
    /// </summary>
    public MuxResult WriteAudio(IBufferWriter<byte> output, ReadOnlySpan<byte> g711, uint rtpTimestamp)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (_flac is null || g711.IsEmpty || g711.Length > FlacEncoder.MaxBlockSize)
        {
            return MuxResult.DroppedInvalid;
        }

        if (Tracks.Count == 0)
        {
            // Audio starts with the video's init segment, so that both timelines start together.
            return MuxResult.WaitingForKeyframe;
        }

        bool first = !_audioTime.IsStarted;
        ulong time = _audioTime.Extend(rtpTimestamp);
        if (!first && time < _audioEnd)
        {
            // Late or duplicated: it would overlap audio already written.
            return MuxResult.DroppedInvalid;
        }

        Span<short> pcm = stackalloc short[g711.Length];
        G711.Decode(g711, pcm, aLaw: _options.Audio == AudioCodec.Pcma);

        // A trun's samples are back to back: a gap (lost packets) or a full staging buffer ends the fragment.
        bool written = false;
        if (_stagedCount > 0 && (time != _stagedEnd || _audioStaging.Length - _stagedBytes < FlacEncoder.MaxFrameBytes(pcm.Length)))
        {
            FlushAudio(output);
            written = true;
        }

        if (_stagedCount == 0)
        {
            _stagedStart = time;
        }

        int frameSize = _flac.EncodeFrame(pcm, _audioStaging.AsSpan(_stagedBytes));
        _audioSamples[_stagedCount++] = new FragmentSample((uint)pcm.Length, frameSize, IsSync: true);
        _stagedBytes += frameSize;
        _stagedEnd = time + (ulong)pcm.Length;
        _audioEnd = _stagedEnd;
        if (_stagedCount == _audioSamples.Length)
        {
            FlushAudio(output);
            written = true;
        }

        return written ? MuxResult.Written : MuxResult.Buffered;
    }

    /// <summary>
    /// Writes one AAC access unit (raw, as RFC 3640 carries it) in a fragment of its own, at
    /// <paramref name="rtpTimestamp"/> (the packet's timestamp plus <see cref="AacFrameDuration"/> per earlier unit).
    /// </summary>
    public MuxResult WriteAac(IBufferWriter<byte> output, ReadOnlySpan<byte> accessUnit, uint rtpTimestamp)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (_aac is null || accessUnit.IsEmpty || accessUnit.Length > 8192)
        {
            return MuxResult.DroppedInvalid;
        }

        if (Tracks.Count == 0)
        {
            return MuxResult.WaitingForKeyframe;
        }

        bool first = !_audioTime.IsStarted;
        ulong time = _audioTime.Extend(rtpTimestamp);
        if (!first && time < _audioEnd)
        {
            return MuxResult.DroppedInvalid;
        }

        _aacSample[0] = new FragmentSample(AacFrameDuration, accessUnit.Length, IsSync: true);
        int headerSize = FragmentWriter.HeaderSize(1);
        Span<byte> span = output.GetSpan(headerSize + accessUnit.Length);
        FragmentWriter.WriteHeader(span, ++_sequence, AudioTrackId, time, _aacSample);
        accessUnit.CopyTo(span.Slice(headerSize));
        output.Advance(headerSize + accessUnit.Length);
        _audioEnd = time + AacFrameDuration;
        return MuxResult.Written;
    }

    /// <summary>Writes the audio kept for the next fragment, if any (at the end of a stream); false when there was none.</summary>
    public bool FlushAudio(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (_stagedCount == 0)
        {
            return false;
        }

        ReadOnlySpan<FragmentSample> samples = _audioSamples.AsSpan(0, _stagedCount);
        int headerSize = FragmentWriter.HeaderSize(samples.Length);
        Span<byte> span = output.GetSpan(headerSize + _stagedBytes);
        FragmentWriter.WriteHeader(span, ++_sequence, AudioTrackId, _stagedStart, samples);
        _audioStaging.AsSpan(0, _stagedBytes).CopyTo(span.Slice(headerSize));
        output.Advance(headerSize + _stagedBytes);
        _stagedCount = 0;
        _stagedBytes = 0;
        return true;
    }

    /// <summary>
    /// Writes an init segment when the keyframe's parameter sets are new. False when it has none (or they do not
    /// parse): then the current init segment, if any, stays.
    /// </summary>
    private bool EnsureInitSegment(IBufferWriter<byte> output, ReadOnlySpan<byte> keyframe)
    {
        Span<Range> sets = stackalloc Range[3];
        ReadOnlySpan<byte> accessUnit = keyframe;
        if (!FindParameterSets(accessUnit, sets))
        {
            // A camera that announces its parameter sets only in the SDP: use those.
            accessUnit = _outOfBandParameterSets;
            if (accessUnit.IsEmpty || !FindParameterSets(accessUnit, sets))
            {
                return false;
            }
        }

        bool h265 = _options.Video == VideoCodec.H265;
        int total = 0;
        foreach (Range set in sets)
        {
            total += set.GetOffsetAndLength(accessUnit.Length).Length;
        }

        Span<byte> joined = stackalloc byte[Math.Min(total, 3 * ParameterSet.MaxBytes)];
        if (total > joined.Length)
        {
            return false;
        }

        int at = 0;
        foreach (Range set in sets)
        {
            accessUnit[set].CopyTo(joined.Slice(at));
            at += accessUnit[set].Length;
        }

        if (joined.SequenceEqual(_parameterSets))
        {
            return false;
        }

        Mp4Track? video = h265 ? BuildH265(accessUnit, sets) : BuildH264(accessUnit, sets);
        if (video is null)
        {
            return false;
        }

        var tracks = new List<Mp4Track> { video };
        if (_flac is not null)
        {
            tracks.Add(Mp4Track.Flac(AudioTrackId, _options.AudioSampleRate, 1, _flac.StreamInfoBlock()));
        }
        else if (_aac is { } aac)
        {
            tracks.Add(Mp4Track.Aac(AudioTrackId, _options.AudioSampleRate, aac, _options.AudioConfig));
        }

        if (Tracks.Count == 0 && video.Kind == Mp4TrackKind.Video && FrameDuration(accessUnit, sets) is uint duration)
        {
            _videoDuration = duration;
        }

        InitSegmentWriter.Write(output, tracks);
        _parameterSets = joined.ToArray();
        Tracks = tracks;
        MimeType = $"video/mp4; codecs=\"{string.Join(',', tracks.Select(t => t.CodecString))}\"";
        InitSegments++;
        return true;
    }

    private static byte[] LengthPrefixed(IReadOnlyList<byte[]> nals)
    {
        int total = 0;
        foreach (byte[] nal in nals)
        {
            total += 4 + nal.Length;
        }

        var joined = new byte[total];
        int at = 0;
        foreach (byte[] nal in nals)
        {
            BinaryPrimitives.WriteInt32BigEndian(joined.AsSpan(at), nal.Length);
            nal.CopyTo(joined, at + 4);
            at += 4 + nal.Length;
        }

        return joined;
    }

    /// <summary>Finds SPS and PPS (H.264) or VPS, SPS and PPS (H.265) among the access unit's NAL units.</summary>
    private bool FindParameterSets(ReadOnlySpan<byte> accessUnit, Span<Range> sets)
    {
        bool h265 = _options.Video == VideoCodec.H265;
        int needed = h265 ? 3 : 2;
        int found = 0;
        sets.Fill(default);
        int offset = 0;
        while (offset + 4 < accessUnit.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(accessUnit.Slice(offset));
            if (length <= 0 || length > accessUnit.Length - offset - 4)
            {
                return false;
            }

            byte header = accessUnit[offset + 4];
            int slot = h265 ? ((header >> 1) & 0x3F) - 32 : (header & 0x1F) - 7;
            if (slot >= 0 && slot < needed && sets[slot].Equals(default(Range)))
            {
                sets[slot] = new Range(offset + 4, offset + 4 + length);
                found++;
            }

            offset += 4 + length;
        }

        if (!h265)
        {
            sets[2] = new Range(0, 0);
        }

        return found == needed;
    }

    private static Mp4Track? BuildH264(ReadOnlySpan<byte> accessUnit, ReadOnlySpan<Range> sets)
    {
        ReadOnlySpan<byte> sps = accessUnit[sets[0]];
        return H264Sps.TryParse(sps, out H264Sps? info)
            ? Mp4Track.H264(VideoTrackId, info!, DecoderConfigurationRecords.BuildAvcC(sps, accessUnit[sets[1]], info!))
            : null;
    }

    private static Mp4Track? BuildH265(ReadOnlySpan<byte> accessUnit, ReadOnlySpan<Range> sets)
    {
        ReadOnlySpan<byte> sps = accessUnit[sets[1]];
        return H265Sps.TryParse(sps, out H265Sps? info)
            ? Mp4Track.H265(VideoTrackId, info!, DecoderConfigurationRecords.BuildHvcC(accessUnit[sets[0]], sps, accessUnit[sets[2]], info!))
            : null;
    }

    /// <summary>The frame interval from H.264 VUI timing (§E.2.1: a frame is two ticks), in 90 kHz units.</summary>
    private uint? FrameDuration(ReadOnlySpan<byte> accessUnit, ReadOnlySpan<Range> sets)
    {
        if (_options.Video != VideoCodec.H264 || !H264Sps.TryParse(accessUnit[sets[0]], out H264Sps? info) ||
            info!.NumUnitsInTick == 0 || info.TimeScale == 0)
        {
            return null;
        }

        ulong duration = 90_000UL * 2 * info.NumUnitsInTick / info.TimeScale;
        return duration is > 0 and <= 90_000 ? (uint)duration : null;
    }
}
