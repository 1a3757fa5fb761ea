using HikShareGateway.Ffmpeg.Native;

namespace HikShareGateway.Ffmpeg.Audio;

/// <summary>Audio codecs the transcoders take and give.</summary>
public enum AudioCodec
{
    /// <summary>Opus (RFC 6716): libopus, always decoded at 48 kHz.</summary>
    Opus,
    /// <summary>AAC-LC raw access units (no ADTS); decoding needs the AudioSpecificConfig.</summary>
    Aac,
    /// <summary>G.711 µ-law.</summary>
    Pcmu,
    /// <summary>G.711 A-law.</summary>
    Pcma,
}

/// <summary>One side of an audio transcoder.</summary>
/// <param name="Config">Decoder configuration: AAC's AudioSpecificConfig (RTP config= / esds); optional OpusHead.</param>
public sealed record AudioFormat(AudioCodec Codec, int SampleRate, int Channels, byte[]? Config = null);

/// <summary>Receives one encoded packet; <paramref name="pts"/> counts samples at the output rate from 0. The span is
/// valid only during the call.</summary>
public delegate void EncodedAudioHandler(ReadOnlySpan<byte> packet, long pts);

/// <summary>
/// Decode → swresample (rate, channels, sample format) → fixed-size frames → encode. Covers Opus → G.711 (two-way
/// audio from browsers), G.711 → AAC/Opus and AAC → Opus (browsers).
/// </summary>
/// <remarks>
/// Not thread-safe: one owner feeds it, off the packet path. Memory is bounded: the resampler's delay plus less than
/// one output frame of samples in the FIFO (<see cref="OutputFrameSamples"/>). A pushed packet allocates no managed
/// memory. Output timestamps count samples: a gap in the input (lost packets) is not carried over.
/// </remarks>
public sealed unsafe class AudioTranscoder : IDisposable
{
    private readonly AudioFormat _in;
    private readonly AudioFormat _out;
    private readonly CodecContextHandle _decoder;
    private readonly CodecContextHandle _encoder;
    private readonly PacketHandle _packet = PacketHandle.Allocate();
    private readonly FrameHandle _decoded = FrameHandle.Allocate();
    private readonly FrameHandle _frame = FrameHandle.Allocate();
    private readonly int _sampleFormat;
    private readonly int _planes;
    private readonly int _bytesPerSample;   // per plane, per sample: sample size × channels when interleaved
    private readonly byte[][] _fifo;
    private int _fifoSamples;
    private SwrContextHandle? _swr;
    private long _pts;

    /// <param name="bitrateKbps">AAC/Opus bitrate; ignored by G.711.</param>
    /// <param name="g711FrameMilliseconds">G.711 packet duration (20 ms: 160 bytes at 8 kHz).</param>
    public AudioTranscoder(AudioFormat input, AudioFormat output, int bitrateKbps = 32, int g711FrameMilliseconds = 20)
    {
        Validate(input, output, bitrateKbps, g711FrameMilliseconds);
        _in = input;
        _out = output;
        _decoder = OpenDecoder(input);
        (_sampleFormat, bool planar, int sampleSize) = EncoderSampleFormat(output.Codec);
        _encoder = OpenEncoder(output, _sampleFormat, bitrateKbps);
        int frameSize = Layout.Read<int>(_encoder.Ptr, Layout.CodecFrameSize);
        OutputFrameSamples = frameSize > 0 ? frameSize : output.SampleRate * g711FrameMilliseconds / 1000;
        _planes = planar ? output.Channels : 1;
        _bytesPerSample = planar ? sampleSize : sampleSize * output.Channels;
        _fifo = new byte[_planes][];
        for (int p = 0; p < _planes; p++)
        {
            // Less than one frame stays between calls; one decoded frame (≤ 120 ms of Opus, 2048 AAC samples) is added.
            _fifo[p] = new byte[(OutputFrameSamples + output.SampleRate / 4 + 4096) * _bytesPerSample];
        }
        AllocateEncoderFrame();
        OutputConfig = Codecs.Extradata(_encoder.Ptr);
    }

    /// <summary>Samples per output packet (AAC 1024, Opus 960 at 48 kHz, G.711 160 at 20 ms/8 kHz).</summary>
    public int OutputFrameSamples { get; }

    /// <summary>The encoder's extradata: AAC's AudioSpecificConfig, Opus's OpusHead; empty for G.711.</summary>
    public byte[] OutputConfig { get; }

    /// <summary>Packets the decoder rejected (skipped).</summary>
    public int DecodeErrors { get; private set; }

    /// <summary>Transcodes one packet; returns how many packets <paramref name="output"/> received.</summary>
    public int Push(ReadOnlySpan<byte> packet, EncodedAudioHandler output)
    {
        if (packet.IsEmpty)
        {
            return 0;   // size 0 means end of stream to avcodec_send_packet (EINVAL with data): nothing to decode, not an error
        }
        _packet.SetData(packet, 0);
        int sent = AvCodec.avcodec_send_packet(_decoder.Ptr, _packet.Ptr);
        AvCodec.av_packet_unref(_packet.Ptr);
        if (sent < 0 && sent != AvErrors.EAGAIN)
        {
            DecodeErrors++;
            return 0;
        }
        return DrainDecoder(output);
    }

    /// <summary>End of input: drains decoder and resampler, pads the last frame with silence, drains the encoder.
    /// The transcoder is finished afterwards (FFmpeg's encoders take nothing after their flush).</summary>
    public int Flush(EncodedAudioHandler output)
    {
        AvCodec.avcodec_send_packet(_decoder.Ptr, 0);
        int n = DrainDecoder(output);
        if (_swr is not null)
        {
            Resample(null, 0);
            n += EncodeFullFrames(output);
        }
        if (_fifoSamples > 0)
        {
            for (int p = 0; p < _planes; p++)
            {
                // The FIFO holds the encoder's input (s16 or float): silence is all-zero bytes in both.
                _fifo[p].AsSpan(_fifoSamples * _bytesPerSample, (OutputFrameSamples - _fifoSamples) * _bytesPerSample).Clear();
            }
            _fifoSamples = OutputFrameSamples;
            n += EncodeFullFrames(output);
        }
        AvCodec.avcodec_send_frame(_encoder.Ptr, 0);
        return n + DrainEncoder(output);
    }

    private int DrainDecoder(EncodedAudioHandler output)
    {
        int n = 0;
        while (true)
        {
            int r = AvCodec.avcodec_receive_frame(_decoder.Ptr, _decoded.Ptr);
            if (r == AvErrors.EAGAIN || r == AvErrors.EOF)
            {
                return n;
            }
            if (r < 0)
            {
                DecodeErrors++;
                return n;
            }
            _swr ??= CreateResampler(_decoded);
            Resample((byte**)(_decoded.Ptr + Layout.FrameData), _decoded.NbSamples);
            AvUtil.av_frame_unref(_decoded.Ptr);
            n += EncodeFullFrames(output);
        }
    }

    private void Resample(byte** input, int inSamples)
    {
        byte** outPlanes = stackalloc byte*[_planes];
        while (true)
        {
            int room = _fifo[0].Length / _bytesPerSample - _fifoSamples;
            fixed (byte* p0 = _fifo[0])
            fixed (byte* p1 = _planes > 1 ? _fifo[1] : null)
            {
                outPlanes[0] = p0 + _fifoSamples * _bytesPerSample;
                if (_planes > 1)
                {
                    outPlanes[1] = p1 + _fifoSamples * _bytesPerSample;
                }
                int got = FfmpegError.Check(SwResample.swr_convert(_swr!.Ptr, outPlanes, room, input, inSamples), "swr_convert");
                _fifoSamples += got;
                // Input is consumed in one call while there is room; only a flush (input null) loops until empty.
                if (input is not null || got == 0)
                {
                    return;
                }
            }
        }
    }

    private int EncodeFullFrames(EncodedAudioHandler output)
    {
        int n = 0;
        int frameBytes = OutputFrameSamples * _bytesPerSample;
        while (_fifoSamples >= OutputFrameSamples)
        {
            FfmpegError.Check(AvUtil.av_frame_make_writable(_frame.Ptr), "av_frame_make_writable");
            for (int p = 0; p < _planes; p++)
            {
                _fifo[p].AsSpan(0, frameBytes).CopyTo(new Span<byte>((void*)_frame.Data(p), frameBytes));
                _fifo[p].AsSpan(frameBytes, (_fifoSamples - OutputFrameSamples) * _bytesPerSample).CopyTo(_fifo[p]);
            }
            _fifoSamples -= OutputFrameSamples;
            Layout.Write(_frame.Ptr, Layout.FramePts, _pts);
            _pts += OutputFrameSamples;
            FfmpegError.Check(AvCodec.avcodec_send_frame(_encoder.Ptr, _frame.Ptr), "avcodec_send_frame(audio)");
            n += DrainEncoder(output);
        }
        return n;
    }

    private int DrainEncoder(EncodedAudioHandler output)
    {
        int n = 0;
        while (true)
        {
            int r = AvCodec.avcodec_receive_packet(_encoder.Ptr, _packet.Ptr);
            if (r == AvErrors.EAGAIN || r == AvErrors.EOF)
            {
                return n;
            }
            FfmpegError.Check(r, "avcodec_receive_packet(audio)");
            try
            {
                output(_packet.Data, _packet.Pts);
                n++;
            }
            finally
            {
                AvCodec.av_packet_unref(_packet.Ptr);
            }
        }
    }

    private SwrContextHandle CreateResampler(FrameHandle first)
    {
        var swr = SwrContextHandle.Allocate();
        try
        {
            var s = swr.Ptr;
            FfmpegError.Check(AvUtil.av_opt_set_chlayout(s, "in_chlayout", first.Ptr + Layout.FrameChLayout, 0), "av_opt_set_chlayout(in)");
            FfmpegError.Check(AvUtil.av_opt_set_sample_fmt(s, "in_sample_fmt", first.Format, 0), "av_opt_set_sample_fmt(in)");
            Codecs.Set(s, "in_sample_rate", Layout.Read<int>(first.Ptr, Layout.FrameSampleRate));
            Codecs.Set(s, "out_chlayout", ChannelLayoutName(_out.Channels));
            FfmpegError.Check(AvUtil.av_opt_set_sample_fmt(s, "out_sample_fmt", _sampleFormat, 0), "av_opt_set_sample_fmt(out)");
            Codecs.Set(s, "out_sample_rate", _out.SampleRate);
            FfmpegError.Check(SwResample.swr_init(s), "swr_init");
            return swr;
        }
        catch
        {
            swr.Dispose();
            throw;
        }
    }

    private void AllocateEncoderFrame()
    {
        var f = _frame.Ptr;
        Layout.Write(f, Layout.FrameNbSamples, OutputFrameSamples);
        Layout.Write(f, Layout.FrameFormat, _sampleFormat);
        Layout.Write(f, Layout.FrameSampleRate, _out.SampleRate);
        AvUtil.av_channel_layout_default(f + Layout.FrameChLayout, _out.Channels);
        FfmpegError.Check(AvUtil.av_frame_get_buffer(f, 0), "av_frame_get_buffer(audio)");
    }

    private static CodecContextHandle OpenDecoder(AudioFormat f)
    {
        string name = f.Codec switch { AudioCodec.Opus => "libopus", AudioCodec.Aac => "aac", AudioCodec.Pcmu => "pcm_mulaw", _ => "pcm_alaw" };
        return Codecs.Open(Codecs.FindDecoder(name), name, c =>
        {
            Codecs.Set(c, "ch_layout", ChannelLayoutName(f.Channels));
            Codecs.Set(c, "ar", f.SampleRate);
            if (f.Config is { Length: > 0 } config)
            {
                // FFmpeg frees extradata with av_free and reads up to 64 bytes past it: av_mallocz(size + padding).
                var p = AvUtil.av_mallocz((nuint)(config.Length + AvErrors.PaddingSize));
                if (p == 0)
                {
                    throw new MediaProcessingException(MediaError.Failed, "av_mallocz(extradata) returned NULL");
                }
                config.CopyTo(new Span<byte>((void*)p, config.Length));
                Layout.Write(c, Layout.CodecExtradata, p);
                Layout.Write(c, Layout.CodecExtradataSize, config.Length);
            }
        });
    }

    private static CodecContextHandle OpenEncoder(AudioFormat f, int sampleFormat, int bitrateKbps)
    {
        string name = f.Codec switch { AudioCodec.Opus => "libopus", AudioCodec.Aac => "aac", AudioCodec.Pcmu => "pcm_mulaw", _ => "pcm_alaw" };
        return Codecs.Open(Codecs.FindEncoder(name), name, c =>
        {
            Codecs.Set(c, "ch_layout", ChannelLayoutName(f.Channels));
            Codecs.Set(c, "ar", f.SampleRate);
            Layout.Write(c, Layout.CodecSampleFmt, sampleFormat);
            Codecs.SetRational(c, "time_base", 1, f.SampleRate);
            if (f.Codec is AudioCodec.Aac or AudioCodec.Opus)
            {
                Codecs.Set(c, "b", bitrateKbps * 1000L);
            }
        });
    }

    /// <summary>Sample format each encoder takes: (AVSampleFormat, planar, bytes per sample).</summary>
    private static (int Format, bool Planar, int Size) EncoderSampleFormat(AudioCodec codec) => codec switch
    {
        AudioCodec.Aac => (SampleFormat.FltP, true, 4),
        _ => (SampleFormat.S16, false, 2),   // libopus, pcm_mulaw, pcm_alaw
    };

    private static string ChannelLayoutName(int channels) => channels == 1 ? "mono" : "stereo";

    private static void Validate(AudioFormat input, AudioFormat output, int bitrateKbps, int g711FrameMilliseconds)
    {
        var errors = new List<string>();
        foreach (var (side, f) in new[] { ("input", input), ("output", output) })
        {
            if (f.Channels is not (1 or 2)) errors.Add($"{side} channels must be 1 or 2 (got {f.Channels})");
            bool rateOk = f.Codec switch
            {
                AudioCodec.Opus => side == "input" || f.SampleRate is 8000 or 12000 or 16000 or 24000 or 48000,
                AudioCodec.Pcmu or AudioCodec.Pcma => f.SampleRate is >= 8000 and <= 48000,
                _ => f.SampleRate is >= 8000 and <= 96000,
            };
            if (!rateOk) errors.Add($"{side} sample rate {f.SampleRate} is not valid for {f.Codec}");
        }
        if (input.Codec == AudioCodec.Aac && input.Config is not { Length: >= 2 }) errors.Add("AAC input needs its AudioSpecificConfig (Config)");
        if (bitrateKbps is < 6 or > 512) errors.Add($"bitrate must be 6..512 kbit/s (got {bitrateKbps})");
        if (g711FrameMilliseconds is < 10 or > 120) errors.Add($"G.711 frame must be 10..120 ms (got {g711FrameMilliseconds})");
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid audio transcoder: " + string.Join("; ", errors));
        }
    }

    public void Dispose()
    {
        _swr?.Dispose();
        _frame.Dispose();
        _decoded.Dispose();
        _packet.Dispose();
        _encoder.Dispose();
        _decoder.Dispose();
    }
}
