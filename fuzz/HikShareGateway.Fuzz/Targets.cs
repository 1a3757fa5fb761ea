using System.Buffers;
using System.Text;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Protocols;
using HikShareGateway.Http;
using HikShareGateway.Http.Ptz;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Fuzz;

/// <summary>
/// One entry per parser that reads bytes from the network. Each takes the fuzzer's input and must either parse it or
/// refuse it the documented way (a false/error result, or a <see cref="DeviceException"/> for SOAP); anything else that
/// escapes — an IndexOutOfRange, a NullReference, a hang — is a finding.
/// </summary>
public static class Targets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["rtsp"] = Rtsp,
        ["sdp"] = Sdp,
        ["transport"] = Transport,
        ["rtp"] = Rtp,
        ["viewer-path"] = ViewerPath,
        ["auth-header"] = AuthHeader,
        ["soap"] = Soap,
        ["grants"] = Grants,
        ["jws-token"] = JwsToken,
        ["ptz"] = Ptz,
        ["stun"] = WebRtcTargets.Stun,
        ["sdp-offer"] = WebRtcTargets.SdpOffer,
        ["rtcp"] = WebRtcTargets.Rtcp,
        ["srtp"] = WebRtcTargets.Srtp,
        ["dtls-record"] = WebRtcTargets.DtlsRecord,
    };

    /// <summary>
    /// RTSP requests, responses and interleaved frames (RFC 2326 §10.12), read the way the server does: a keep-alive
    /// taken by <see cref="RtspKeepAlive"/> must be what <see cref="RtspParser"/> reads there (a disagreement throws).
    /// </summary>
    private static void Rtsp(byte[] input)
    {
        var sequence = new ReadOnlySequence<byte>(input);
        for (var guard = 0; guard <= input.Length + 1 && !sequence.IsEmpty; guard++)
        {
            var reader = new SequenceReader<byte>(sequence);
            var fast = reader;
            if (RtspKeepAlive.TryRead(ref fast, RtspLimits.Default, out var keepAlive))
            {
                var full = reader;
                if (RtspParser.TryRead(ref full, RtspLimits.Default, out var same, out _, out _) != RtspReadStatus.Message
                    || full.Consumed != fast.Consumed || same!.CSeq != keepAlive.CSeq
                    || same.Method != keepAlive.Method switch { RtspKeepAliveMethod.Options => "OPTIONS", RtspKeepAliveMethod.GetParameter => "GET_PARAMETER", _ => "SET_PARAMETER" })
                {
                    throw new InvalidOperationException("the keep-alive reader and the full parser disagree");
                }
            }
            var status = RtspParser.TryRead(ref reader, RtspLimits.Default, out var message, out var frame, out _);
            switch (status)
            {
                case RtspReadStatus.Message:
                    _ = message!.Headers.Count;
                    break;
                case RtspReadStatus.Interleaved:
                    if (reader.Remaining < frame.Length)
                    {
                        return;
                    }
                    reader.Advance(frame.Length);
                    break;
                default:
                    return;
            }
            sequence = sequence.Slice(reader.Position);
        }
    }

    private static void Sdp(byte[] input)
    {
        var sdp = SessionDescription.Parse(Encoding.UTF8.GetString(input));
        foreach (var m in sdp.Media)
        {
            _ = m.Control;
        }
    }

    private static void Transport(byte[] input) => _ = TransportHeader.Parse(Encoding.Latin1.GetString(input));

    private static void Rtp(byte[] input)
    {
        if (RtpPacket.TryParse(input, out var p))
        {
            _ = KeyframeDetector.Classify(VideoCodec.H264, p.Payload);
            _ = KeyframeDetector.Classify(VideoCodec.H265, p.Payload);
        }
        _ = RtpPacket.LooksLikeRtcp(input);
    }

    private static void ViewerPath(byte[] input)
    {
        var uri = Encoding.UTF8.GetString(input);
        _ = ViewerRequestPath.TryParse(uri, out _);
        _ = ViewerRequestPath.ParseQuery(uri);
    }

    private static void AuthHeader(byte[] input)
    {
        var header = Encoding.Latin1.GetString(input);
        _ = AuthParameters.Parse(header);
        _ = RtspAuth.ParseChallenge(header);
        _ = RtspAuth.TryParseBasic(header, out _, out _);
        _ = RtspAuth.TryParseBearer(header);
    }

    /// <summary>A device's SOAP answer through the envelope reader and every ONVIF parser that may get it.</summary>
    private static void Soap(byte[] input)
    {
        System.Xml.Linq.XElement body;
        try
        {
            body = SoapEnvelope.ReadBody(input, "Fuzz");
        }
        catch (DeviceException)
        {
            return; // malformed XML, a fault, a wrong envelope: refused the documented way
        }
        // The gateway hands a response only to the parser of the request it sent, and each parser first checks the
        // response element's name: the element's name picks the parser here too (a mutated name still picks one,
        // by its hash), instead of running all 14 and paying an exception for each of the 13 wrong shapes.
        var response = body.FirstNode as System.Xml.Linq.XElement ?? body;
        var name = response.Name.LocalName;
        var index = Array.IndexOf(SoapResponseNames, name);
        if (index < 0)
        {
            index = (int)((uint)string.GetHashCode(name, StringComparison.Ordinal) % (uint)SoapParsers.Length);
        }
        Try(SoapParsers[index], body);
    }

    private static readonly string[] SoapResponseNames =
    [
        "GetDeviceInformationResponse", "GetSystemDateAndTimeResponse", "GetCapabilitiesResponse", "GetServicesResponse",
        "GetScopesResponse", "GetProfilesResponse", "GetVideoSourcesResponse", "GetStreamUriResponse",
        "CreatePullPointSubscriptionResponse", "PullMessagesResponse", "RenewResponse", "GetPresetsResponse",
        "GetRecordingsResponse", "GetReplayUriResponse",
    ];

    private static readonly Func<System.Xml.Linq.XElement, object?>[] SoapParsers =
    [
        b => DeviceParsers.ParseDeviceInformation(b), b => DeviceParsers.ParseSystemDateAndTime(b),
        b => DeviceParsers.ParseCapabilities(b), b => DeviceParsers.ParseServices(b), b => DeviceParsers.ParseScopes(b),
        b => MediaParsers.ParseProfiles(b), b => MediaParsers.ParseVideoSources(b), b => MediaParsers.ParseStreamUri(b),
        b => EventParsers.ParseCreatePullPointSubscription(b), b => EventParsers.ParsePullMessages(b),
        b => EventParsers.ParseRenew(b), b => PtzParsers.ParsePresets(b), b => RecordingParsers.ParseRecordings(b),
        b => RecordingParsers.ParseReplayUri(b),
    ];

    private static void Try(Func<System.Xml.Linq.XElement, object?> parse, System.Xml.Linq.XElement body)
    {
        try
        {
            _ = parse(body);
        }
        catch (DeviceException)
        {
            // An answer of the wrong shape: refused the documented way.
        }
    }

    // Lazy: instrumented code must not run before SharpFuzz has attached the coverage map (a static initialiser of
    // this class runs earlier and would write through a null map).
    private static readonly Lazy<Ed25519SigningKey> LazyKey = new(() => Ed25519SigningKey.Generate("fuzz"));
    private static readonly Lazy<TrustedKeySet> LazyTrusted = new(() => new TrustedKeySet([LazyKey.Value.Public]));
    private static Ed25519SigningKey Key => LazyKey.Value;
    private static TrustedKeySet Trusted => LazyTrusted.Value;

    /// <summary>Grants as the MQTT client gets them: a JWS whose payload is a snapshot or a delta.</summary>
    private static void Grants(byte[] input)
    {
        var snapshot = GrantsJson.TryParseSnapshot(input, out _, out _);
        var delta = GrantsJson.TryParseDelta(input, out _, out _);
        _ = Jws.TryVerify(input, Trusted, 4 << 20, out _, out _);
        // JSON that parses is also signed by a trusted key and goes the whole way (sign → verify → parse the verified
        // payload). Only then: an Ed25519 signature costs ~10× the rest of an execution, and signing bytes that are
        // not grants would fuzz only the signer.
        if (snapshot || delta)
        {
            var signed = Encoding.ASCII.GetBytes(Jws.Sign(input, Key));
            if (Jws.TryVerify(signed, Trusted, 4 << 20, out var payload, out _) != JwsError.None || !payload.AsSpan().SequenceEqual(input))
            {
                throw new InvalidOperationException("grants: a payload signed by a trusted key did not verify to the same bytes");
            }
            _ = GrantsJson.TryParseSnapshot(payload, out _, out _);
        }
    }

    private static void JwsToken(byte[] input) =>
        _ = ViewerTokens.Validate(Encoding.UTF8.GetString(input), Trusted, "gw-fuzz", DateTimeOffset.UnixEpoch.AddYears(56), out _);

    private static readonly Lazy<PtzApiOptions> PtzOptions = new(() => new PtzApiOptions());

    private static void Ptz(byte[] input) => _ = PtzRequestParser.TryParse(input, PtzOptions.Value, out _, out _);
}
