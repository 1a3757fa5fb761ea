using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace HikShareGateway.Onvif.Soap;

/// <summary>Request bodies (pure). Names and shapes per the ONVIF WSDLs (device, media, media2, ptz, event).</summary>
public static class OnvifRequests
{
    public static XElement GetSystemDateAndTime() => new(Ns.Tds + "GetSystemDateAndTime");
    public static XElement GetDeviceInformation() => new(Ns.Tds + "GetDeviceInformation");
    public static XElement GetCapabilities() => new(Ns.Tds + "GetCapabilities", new XElement(Ns.Tds + "Category", "All"));
    public static XElement GetServices(bool includeCapability) => new(Ns.Tds + "GetServices", new XElement(Ns.Tds + "IncludeCapability", includeCapability ? "true" : "false"));
    public static XElement GetScopes() => new(Ns.Tds + "GetScopes");

    public static XElement GetVideoSources() => new(Ns.Trt + "GetVideoSources");
    public static XElement GetProfiles() => new(Ns.Trt + "GetProfiles");
    public static XElement GetProfiles2() => new(Ns.Tr2 + "GetProfiles", new XElement(Ns.Tr2 + "Type", "All"));

    /// <summary>Media ver10 GetStreamUri: RTP-Unicast over RTSP (Media spec §5.15.1).</summary>
    public static XElement GetStreamUri(string profileToken) => new(Ns.Trt + "GetStreamUri",
        new XElement(Ns.Trt + "StreamSetup",
            new XElement(Ns.Tt + "Stream", "RTP-Unicast"),
            new XElement(Ns.Tt + "Transport", new XElement(Ns.Tt + "Protocol", "RTSP"))),
        new XElement(Ns.Trt + "ProfileToken", profileToken));

    public static XElement GetStreamUri2(string profileToken) => new(Ns.Tr2 + "GetStreamUri",
        new XElement(Ns.Tr2 + "Protocol", "RTSP"),
        new XElement(Ns.Tr2 + "ProfileToken", profileToken));

    /// <summary>Media ver10 GetSnapshotUri (Media spec §5.16) of a profile.</summary>
    public static XElement GetSnapshotUri(string profileToken) => new(Ns.Trt + "GetSnapshotUri", new XElement(Ns.Trt + "ProfileToken", profileToken));

    /// <summary>Media2 GetSnapshotUri of a profile.</summary>
    public static XElement GetSnapshotUri2(string profileToken) => new(Ns.Tr2 + "GetSnapshotUri", new XElement(Ns.Tr2 + "ProfileToken", profileToken));

    public static XElement CreatePullPointSubscription(TimeSpan initialTermination) => new(Ns.Tev + "CreatePullPointSubscription",
        new XElement(Ns.Tev + "InitialTerminationTime", XmlConvert.ToString(initialTermination)));

    public static XElement PullMessages(TimeSpan timeout, int messageLimit) => new(Ns.Tev + "PullMessages",
        new XElement(Ns.Tev + "Timeout", XmlConvert.ToString(timeout)),
        new XElement(Ns.Tev + "MessageLimit", messageLimit.ToString(CultureInfo.InvariantCulture)));

    public static XElement Renew(TimeSpan termination) => new(Ns.Wsnt + "Renew",
        new XElement(Ns.Wsnt + "TerminationTime", XmlConvert.ToString(termination)));

    public static XElement Unsubscribe() => new(Ns.Wsnt + "Unsubscribe");

    /// <summary>WS-Addressing headers for a call on a subscription: To, Action, plus the reference parameters the device gave.</summary>
    public static IEnumerable<XElement> SubscriptionHeaders(Uri address, string action, IEnumerable<XElement> referenceParameters)
    {
        yield return new XElement(Ns.Wsa + "Action", action);
        yield return new XElement(Ns.Wsa + "To", address.OriginalString);
        foreach (var p in referenceParameters)
        {
            var copy = new XElement(p);
            copy.SetAttributeValue(Ns.Wsa + "IsReferenceParameter", "true");
            yield return copy;
        }
    }

    public const string PullMessagesAction = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest";
    public const string RenewAction = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest";
    public const string UnsubscribeAction = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest";

    // Profile G: Search (ver10/search/wsdl) and Replay (ver10/replay/wsdl).

    /// <summary>FindRecordings over every recording (an empty Scope); the results are fetched with <see cref="GetRecordingSearchResults"/>.</summary>
    public static XElement FindRecordings(int maxMatches, TimeSpan keepAlive) => new(Ns.Tse + "FindRecordings",
        new XElement(Ns.Tse + "Scope"),
        new XElement(Ns.Tse + "MaxMatches", maxMatches.ToString(CultureInfo.InvariantCulture)),
        new XElement(Ns.Tse + "KeepAliveTime", XmlConvert.ToString(keepAlive)));

    public static XElement GetRecordingSearchResults(string searchToken, int maxResults, TimeSpan waitTime) => new(Ns.Tse + "GetRecordingSearchResults",
        new XElement(Ns.Tse + "SearchToken", searchToken),
        new XElement(Ns.Tse + "MinResults", "1"),
        new XElement(Ns.Tse + "MaxResults", maxResults.ToString(CultureInfo.InvariantCulture)),
        new XElement(Ns.Tse + "WaitTime", XmlConvert.ToString(waitTime)));

    public static XElement EndSearch(string searchToken) => new(Ns.Tse + "EndSearch", new XElement(Ns.Tse + "SearchToken", searchToken));

    /// <summary>Replay GetReplayUri: RTP-Unicast over RTSP (Replay Control spec §5.2.1).</summary>
    public static XElement GetReplayUri(string recordingToken) => new(Ns.Trp + "GetReplayUri",
        new XElement(Ns.Trp + "StreamSetup",
            new XElement(Ns.Tt + "Stream", "RTP-Unicast"),
            new XElement(Ns.Tt + "Transport", new XElement(Ns.Tt + "Protocol", "RTSP"))),
        new XElement(Ns.Trp + "RecordingToken", recordingToken));

    // PTZ (ver20/ptz/wsdl).
    public static XElement GetPresets(string profileToken) => new(Ns.Tptz + "GetPresets", new XElement(Ns.Tptz + "ProfileToken", profileToken));

    public static XElement GotoPreset(string profileToken, string presetToken) => new(Ns.Tptz + "GotoPreset",
        new XElement(Ns.Tptz + "ProfileToken", profileToken), new XElement(Ns.Tptz + "PresetToken", presetToken));

    public static XElement ContinuousMove(string profileToken, double? pan, double? tilt, double? zoom, TimeSpan? timeout)
    {
        var e = new XElement(Ns.Tptz + "ContinuousMove", new XElement(Ns.Tptz + "ProfileToken", profileToken), Vector(Ns.Tptz + "Velocity", pan, tilt, zoom));
        if (timeout is { } t)
        {
            e.Add(new XElement(Ns.Tptz + "Timeout", XmlConvert.ToString(t)));
        }
        return e;
    }

    public static XElement AbsoluteMove(string profileToken, double? pan, double? tilt, double? zoom, double? speed) =>
        WithSpeed(new XElement(Ns.Tptz + "AbsoluteMove", new XElement(Ns.Tptz + "ProfileToken", profileToken), Vector(Ns.Tptz + "Position", pan, tilt, zoom)), speed, pan is not null || tilt is not null, zoom is not null);

    public static XElement RelativeMove(string profileToken, double? pan, double? tilt, double? zoom, double? speed) =>
        WithSpeed(new XElement(Ns.Tptz + "RelativeMove", new XElement(Ns.Tptz + "ProfileToken", profileToken), Vector(Ns.Tptz + "Translation", pan, tilt, zoom)), speed, pan is not null || tilt is not null, zoom is not null);

    public static XElement Stop(string profileToken, bool panTilt = true, bool zoom = true) => new(Ns.Tptz + "Stop",
        new XElement(Ns.Tptz + "ProfileToken", profileToken),
        new XElement(Ns.Tptz + "PanTilt", panTilt ? "true" : "false"),
        new XElement(Ns.Tptz + "Zoom", zoom ? "true" : "false"));

    /// <summary>A PTZVector: PanTilt only when pan or tilt is given, Zoom only when zoom is given.</summary>
    private static XElement Vector(XName name, double? pan, double? tilt, double? zoom)
    {
        var v = new XElement(name);
        if (pan is not null || tilt is not null)
        {
            v.Add(new XElement(Ns.Tt + "PanTilt", new XAttribute("x", F(pan ?? 0)), new XAttribute("y", F(tilt ?? 0))));
        }
        if (zoom is not null)
        {
            v.Add(new XElement(Ns.Tt + "Zoom", new XAttribute("x", F(zoom.Value))));
        }
        return v;
    }

    private static XElement WithSpeed(XElement move, double? speed, bool panTilt, bool zoom)
    {
        if (speed is { } s)
        {
            var speedElement = new XElement(Ns.Tptz + "Speed");
            if (panTilt)
            {
                speedElement.Add(new XElement(Ns.Tt + "PanTilt", new XAttribute("x", F(s)), new XAttribute("y", F(s))));
            }
            if (zoom)
            {
                speedElement.Add(new XElement(Ns.Tt + "Zoom", new XAttribute("x", F(s))));
            }
            move.Add(speedElement);
        }
        return move;
    }

    private static string F(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);
}
