using HikShareGateway.Core.Audio;

namespace HikShareGateway.Ffmpeg.Audio;

/// <summary>
/// <see cref="ITalkTranscoders"/> on <see cref="AudioTranscoder"/>: a browser's Opus (RFC 7587: always 48 kHz, signalled
/// as 2 channels) decoded by libopus, down-mixed and resampled to 8 kHz mono by swresample, encoded G.711 in 20 ms frames
/// (160 samples), the packet size devices' speakers take. Available only when FFmpeg loaded with libopus.
/// </summary>
public sealed class TalkTranscoders : ITalkTranscoders
{
    public bool Available
    {
        get
        {
            // Asked per WHEP offer: whether it would work, without loading FFmpeg for good (that is the first transcoder).
            var a = FfmpegLibraries.Probe();
            return a.IsAvailable && !a.MissingCodecs.Any(c => c.Contains("libopus", StringComparison.Ordinal));
        }
    }

    public ITalkTranscoder CreateOpusToG711(TalkCodec output)
    {
        if (!Available)
        {
            throw new InvalidOperationException("Opus to G.711 needs FFmpeg with libopus");
        }
        var codec = output == TalkCodec.Pcma ? AudioCodec.Pcma : AudioCodec.Pcmu;
        return new Transcoder(new AudioTranscoder(new AudioFormat(AudioCodec.Opus, 48000, 2), new AudioFormat(codec, 8000, 1)));
    }

    private sealed class Transcoder(AudioTranscoder inner) : ITalkTranscoder
    {
        private TalkFrameHandler? _output;
        private EncodedAudioHandler? _forward;

        public void Push(ReadOnlySpan<byte> opusPayload, TalkFrameHandler output)
        {
            // One cached forwarding delegate: no allocation per packet.
            _output = output;
            _forward ??= (packet, pts) => _output!(packet, pts);
            inner.Push(opusPayload, _forward);
        }

        public void Dispose() => inner.Dispose();
    }
}
