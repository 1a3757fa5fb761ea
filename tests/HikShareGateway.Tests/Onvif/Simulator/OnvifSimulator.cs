using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using System.Xml;
using System.Xml.Linq;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Tests.Onvif.Simulator;

public enum SimAuth { UsernameToken, HttpDigestOnly, None }

/// <summary>What the simulated device is. Defaults: a 2-channel Hikvision-like NVR, PTZ and audio output on channel 1.</summary>
public sealed class SimDevice
{
    public string Manufacturer { get; set; } = "HIKVISION";
    public string Model { get; set; } = "DS-7608NI-K2";
    public string Firmware { get; set; } = "V4.30.085 build 200916";
    public string Serial { get; set; } = "DS-7608NI-K20820200101CCRRE12345678";
    public string Username { get; set; } = "admin";
    public string Password { get; set; } = "Secr3t!pass";
    public SimAuth Auth { get; set; } = SimAuth.UsernameToken;
    public int Channels { get; set; } = 2;
    public int PtzChannel { get; set; } = 1;
    public int AudioOutputChannel { get; set; } = 1;
    public bool Media2 { get; set; }
    /// <summary>The device's clock minus the real one (a camera with a wrong clock).</summary>
    public TimeSpan ClockSkew { get; set; }
    /// <summary>
    /// The address the device writes into service and stream URLs. Default 127.0.0.2 — a loopback address other than
    /// the one the gateway reaches it on, so rewriting is exercised and a missed rewrite still stays on this machine.
    /// </summary>
    public string? AdvertisedHost { get; set; } = "127.0.0.2";
    public bool RejectCombinedPanTiltZoom { get; set; }
    public string Name { get; set; } = "Lab NVR";
    /// <summary>Axis style: one subscription manager address, the subscription named by a WS-Addressing reference parameter.</summary>
    public bool SubscriptionReferenceParameters { get; set; }
    /// <summary>What the device grants for every subscription and Renew, whatever was asked (null: what was asked).</summary>
    public TimeSpan? SubscriptionLifetime { get; set; }
    /// <summary>False: Renew faults with <c>ter:ActionNotSupported</c>, as some cameras do.</summary>
    public bool RenewSupported { get; set; } = true;
    public string Location { get; set; } = "shop front";
    /// <summary>The stream URI of (channel, main) instead of the simulator's own (e.g. a gst-rtsp-server camera's mounts).</summary>
    public Func<int, bool, string>? StreamUri { get; set; }
    /// <summary>The JPEG served at the GetSnapshotUri address (<c>GET /snapshot</c>, HTTP Digest always); null: 404.</summary>
    public byte[]? SnapshotJpeg { get; set; }
}

/// <summary>
/// An ONVIF device on 127.0.0.1 for integration tests: Device, Media (ver10), Media2 (ver20), PTZ and Event (PullPoint)
/// services over SOAP 1.2, WS-UsernameToken and HTTP Digest checks, misbehaviour on demand, and a WS-Discovery
/// responder on a multicast socket bound to the loopback interface.
/// </summary>
public sealed class OnvifSimulator : IAsyncDisposable
{
    private readonly MiniHttpServer _http;
    private readonly ConcurrentDictionary<string, Channel<XElement>> _subscriptions = new();
    /// <summary>When each subscription ends, on the real clock; past it the subscription is gone, as on a device.</summary>
    private readonly ConcurrentDictionary<string, DateTime> _terminations = new();
    private readonly ConcurrentDictionary<string, Func<SimResponse>> _overrides = new();
    private readonly string _digestNonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
    private int _subscriptionCounter;

    public OnvifSimulator(SimDevice? device = null, Socket? listener = null)
    {
        Device = device ?? new SimDevice();
        _http = new MiniHttpServer(listener ?? MiniHttpServer.Listen(IPAddress.Loopback, 0), HandleAsync);
    }

    public SimDevice Device { get; }
    public IPEndPoint EndPoint => _http.EndPoint;
    public Uri DeviceServiceUri => new($"http://127.0.0.1:{EndPoint.Port}/onvif/device_service");
    private string AdvertisedAuthority => $"{Device.AdvertisedHost ?? "127.0.0.1"}:{EndPoint.Port}";

    /// <summary>Every operation received, in order (after authentication passed).</summary>
    public ConcurrentQueue<string> Operations { get; } = new();
    /// <summary>Every PTZ request body received.</summary>
    public ConcurrentQueue<XElement> PtzRequests { get; } = new();
    public int AuthFailures;
    /// <summary>Operations refused for missing or bad credentials.</summary>
    public ConcurrentQueue<string> RefusedOperations { get; } = new();
    public int DigestAuthentications;
    public int UsernameTokenAuthentications;
    public int Unsubscribes;
    public int Renewals;
    public int RenewFaults;
    public int PullMessages;
    public int ActiveSubscriptions => _subscriptions.Count;

    /// <summary>Answers <paramref name="operation"/> with this instead (malformed XML, slow, huge …).</summary>
    public void Override(string operation, Func<SimResponse> response) => _overrides[operation] = response;
    public void ClearOverride(string operation) => _overrides.TryRemove(operation, out _);

    /// <summary>Queues an event on every live subscription (a camera's motion detector firing).</summary>
    public void Emit(string topic, IEnumerable<(string Name, string Value)> source, IEnumerable<(string Name, string Value)> data, string operation = "Changed")
    {
        var msg = new XElement(Ns.Wsnt + "NotificationMessage",
            new XElement(Ns.Wsnt + "Topic", new XAttribute("Dialect", "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"),
                new XAttribute(XNamespace.Xmlns + "tns1", "http://www.onvif.org/ver10/topics"), topic),
            new XElement(Ns.Wsnt + "Message",
                new XElement(Ns.Tt + "Message", new XAttribute("UtcTime", XmlConvert.ToString(DateTime.UtcNow, XmlDateTimeSerializationMode.Utc)), new XAttribute("PropertyOperation", operation),
                    new XElement(Ns.Tt + "Source", source.Select(s => new XElement(Ns.Tt + "SimpleItem", new XAttribute("Name", s.Name), new XAttribute("Value", s.Value)))),
                    new XElement(Ns.Tt + "Data", data.Select(s => new XElement(Ns.Tt + "SimpleItem", new XAttribute("Name", s.Name), new XAttribute("Value", s.Value)))))));
        foreach (var s in _subscriptions.Values)
        {
            s.Writer.TryWrite(msg);
        }
    }

    public void EmitMotion(int channel, bool on) =>
        Emit("tns1:VideoSource/MotionAlarm", [("Source", SourceToken(channel))], [("State", on ? "true" : "false")]);

    public static string SourceToken(int channel) => $"VideoSource_{channel}";
    public static string ConfigToken(int channel) => $"VideoSourceConfig_{channel}";
    public static string MainProfile(int channel) => $"Profile_{channel}01";
    public static string SubProfile(int channel) => $"Profile_{channel}02";

    // ---------------------------------------------------------------- HTTP / SOAP

    private async Task<SimResponse> HandleAsync(SimRequest request)
    {
        if (request.Method == "GET" && request.Path.StartsWith("/snapshot", StringComparison.Ordinal))
        {
            return Snapshot(request);
        }
        if (request.Method != "POST")
        {
            return new SimResponse(405, []);
        }
        XElement body;
        XElement? header;
        try
        {
            var doc = XDocument.Parse(Encoding.UTF8.GetString(request.Body));
            header = doc.Root?.Element(Ns.Soap12 + "Header");
            body = doc.Root!.Element(Ns.Soap12 + "Body")!.Elements().First();
        }
        catch (Exception)
        {
            return Fault(400, "env:Sender", "ter:WellFormed", "Malformed request");
        }
        var op = body.Name.LocalName;

        // Authentication. ONVIF Core §5.9 access class PRE_AUTH (GetSystemDateAndTime, GetHostname, GetWsdlUrl …)
        // needs no credentials, and whatever token comes with it is ignored (libonvif sends an empty one).
        if (Device.Auth != SimAuth.None && !PreAuth.Contains(op))
        {
            var denied = Authenticate(request, header);
            if (denied is not null)
            {
                Interlocked.Increment(ref AuthFailures);
                RefusedOperations.Enqueue(op);
                return denied;
            }
        }
        Operations.Enqueue(body.Name.Namespace == Ns.Tr2 ? "tr2:" + op : op);
        if (_overrides.TryGetValue(op, out var o))
        {
            return o();
        }
        var answer = op switch
        {
            "GetSystemDateAndTime" => SystemDateAndTime(),
            "GetDeviceInformation" => Ok(new XElement(Ns.Tds + "GetDeviceInformationResponse",
                new XElement(Ns.Tds + "Manufacturer", Device.Manufacturer), new XElement(Ns.Tds + "Model", Device.Model),
                new XElement(Ns.Tds + "FirmwareVersion", Device.Firmware), new XElement(Ns.Tds + "SerialNumber", Device.Serial),
                new XElement(Ns.Tds + "HardwareId", "88"))),
            "GetCapabilities" => Capabilities(),
            "GetServices" => Services(),
            "GetScopes" => Ok(new XElement(Ns.Tds + "GetScopesResponse", Scopes().Select(s => new XElement(Ns.Tds + "Scopes",
                new XElement(Ns.Tt + "ScopeDef", "Fixed"), new XElement(Ns.Tt + "ScopeItem", s))))),
            "GetHostname" => Ok(new XElement(Ns.Tds + "GetHostnameResponse", new XElement(Ns.Tds + "HostnameInformation",
                new XElement(Ns.Tt + "FromDHCP", "false"), new XElement(Ns.Tt + "Name", "sim-nvr")))),
            "GetVideoSources" => Ok(new XElement(Ns.Trt + "GetVideoSourcesResponse", Enumerable.Range(1, Device.Channels).Select(c =>
                new XElement(Ns.Trt + "VideoSources", new XAttribute("token", SourceToken(c)), new XElement(Ns.Tt + "Framerate", "25"),
                    new XElement(Ns.Tt + "Resolution", new XElement(Ns.Tt + "Width", "1920"), new XElement(Ns.Tt + "Height", "1080")))))),
            "GetProfiles" when body.Name.Namespace == Ns.Tr2 => Ok(new XElement(Ns.Tr2 + "GetProfilesResponse", AllProfiles().Select(Profile2))),
            "GetProfiles" => Ok(new XElement(Ns.Trt + "GetProfilesResponse", AllProfiles().Select(p => Profile1(Ns.Trt + "Profiles", p)))),
            "GetProfile" => GetProfile(body),
            "GetStreamUri" => StreamUri(body),
            "GetSnapshotUri" => Ok(new XElement(Ns.Trt + "GetSnapshotUriResponse", new XElement(Ns.Trt + "MediaUri",
                new XElement(Ns.Tt + "Uri", $"http://{AdvertisedAuthority}/snapshot"), new XElement(Ns.Tt + "InvalidAfterConnect", "false"),
                new XElement(Ns.Tt + "InvalidAfterReboot", "false"), new XElement(Ns.Tt + "Timeout", "PT0S")))),
            "GetVideoEncoderConfigurationOptions" => Ok(new XElement(Ns.Trt + "GetVideoEncoderConfigurationOptionsResponse", new XElement(Ns.Trt + "Options"))),
            "GetAudioOutputConfigurations" => Ok(new XElement(Ns.Trt + "GetAudioOutputConfigurationsResponse",
                new XElement(Ns.Trt + "Configurations", new XAttribute("token", "AudioOutputConfigToken"), new XElement(Ns.Tt + "Name", "AudioOut"),
                    new XElement(Ns.Tt + "UseCount", "1"), new XElement(Ns.Tt + "OutputToken", "AudioOutputToken")))),
            "CreatePullPointSubscription" => CreateSubscription(body),
            "PullMessages" => await PullAsync(SubscriptionPath(request.Path, header), body),
            "Renew" => Renew(SubscriptionPath(request.Path, header)),
            "Unsubscribe" => Unsubscribe(SubscriptionPath(request.Path, header)),
            "ContinuousMove" or "AbsoluteMove" or "RelativeMove" or "Stop" or "GotoPreset" => Ptz(body),
            "GetPresets" => Presets(body),
            _ => Fault(400, "env:Receiver", "ter:ActionNotSupported", $"{op} is not supported by the simulator"),
        };
        return answer;
    }

    /// <summary>GET requests for the snapshot address, answered or not.</summary>
    public int SnapshotRequests;

    /// <summary>As cameras serve it (Hikvision <c>/onvif/snapshot</c>, Axis <c>image.cgi</c>): HTTP Digest whatever the SOAP authentication.</summary>
    private SimResponse Snapshot(SimRequest request)
    {
        Interlocked.Increment(ref SnapshotRequests);
        if (!(request.Headers.TryGetValue("Authorization", out var auth) && CheckDigest(auth, request)))
        {
            return new SimResponse(401, [], "text/html", new Dictionary<string, string>
            {
                ["WWW-Authenticate"] = $"Digest realm=\"IP Camera(12345)\", nonce=\"{_digestNonce}\", qop=\"auth\", algorithm=MD5",
            });
        }
        return Device.SnapshotJpeg is { } jpeg ? new SimResponse(200, jpeg, "image/jpeg") : new SimResponse(404, [], "text/html");
    }

    private static readonly HashSet<string> PreAuth = ["GetSystemDateAndTime", "GetHostname", "GetWsdlUrl", "GetServiceCapabilities", "GetEndpointReference"];

    private SimResponse? Authenticate(SimRequest request, XElement? header)
    {
        if (Device.Auth == SimAuth.HttpDigestOnly)
        {
            if (request.Headers.TryGetValue("Authorization", out var auth) && CheckDigest(auth, request))
            {
                Interlocked.Increment(ref DigestAuthentications);
                return null;
            }
            return new SimResponse(401, [], "text/html", new Dictionary<string, string>
            {
                ["WWW-Authenticate"] = $"Digest realm=\"IP Camera(12345)\", nonce=\"{_digestNonce}\", qop=\"auth\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", algorithm=MD5, stale=FALSE",
            });
        }
        var token = header?.Element(Ns.Wsse + "Security")?.Element(Ns.Wsse + "UsernameToken");
        if (token is null)
        {
            return Fault(400, "env:Sender", "ter:NotAuthorized", "Sender not Authorized");
        }
        var user = token.Element(Ns.Wsse + "Username")?.Value;
        var password = token.Element(Ns.Wsse + "Password")?.Value;
        var nonce = token.Element(Ns.Wsse + "Nonce")?.Value;
        var created = token.Element(Ns.Wsu + "Created")?.Value;
        if (user != Device.Username || password is null || nonce is null || created is null)
        {
            return Fault(400, "env:Sender", "ter:NotAuthorized", "Sender not Authorized");
        }
        var expected = UsernameToken.Digest(Convert.FromBase64String(nonce), created, Device.Password);
        // Real devices refuse a Created too far from their own clock (Hikvision: about ±5 s beyond its window).
        var createdAt = DateTimeOffset.Parse(created, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        var deviceNow = DateTimeOffset.UtcNow + Device.ClockSkew;
        if (expected != password || (createdAt - deviceNow).Duration() > TimeSpan.FromSeconds(30))
        {
            return Fault(400, "env:Sender", "ter:NotAuthorized", "Sender not Authorized");
        }
        Interlocked.Increment(ref UsernameTokenAuthentications);
        return null;
    }

    private bool CheckDigest(string header, SimRequest request)
    {
        if (!header.StartsWith("Digest ", StringComparison.Ordinal))
        {
            return false;
        }
        var p = DigestChallenge.ParseParameters(header[7..]);
        if (!p.TryGetValue("username", out var user) || user != Device.Username || !p.TryGetValue("nonce", out var nonce) || nonce != _digestNonce
            || !p.TryGetValue("uri", out var uri) || uri != request.Path || !p.TryGetValue("response", out var response))
        {
            return false;
        }
        var ha1 = Md5Hex($"{Device.Username}:{p["realm"]}:{Device.Password}");
        var ha2 = Md5Hex($"{request.Method}:{uri}");
        var expected = p.TryGetValue("qop", out var qop) && qop == "auth"
            ? Md5Hex($"{ha1}:{nonce}:{p["nc"]}:{p["cnonce"]}:auth:{ha2}")
            : Md5Hex($"{ha1}:{nonce}:{ha2}");
        return expected == response;
    }

    // The simulator's own hashing, independent of the gateway's Digest code it checks.
    private static string Md5Hex(string s) => Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes(s)));

    private SimResponse SystemDateAndTime()
    {
        var now = DateTime.UtcNow + Device.ClockSkew;
        XElement DateTimeElement(string name, DateTime t) => new(Ns.Tt + name,
            new XElement(Ns.Tt + "Time", new XElement(Ns.Tt + "Hour", t.Hour), new XElement(Ns.Tt + "Minute", t.Minute), new XElement(Ns.Tt + "Second", t.Second)),
            new XElement(Ns.Tt + "Date", new XElement(Ns.Tt + "Year", t.Year), new XElement(Ns.Tt + "Month", t.Month), new XElement(Ns.Tt + "Day", t.Day)));
        return Ok(new XElement(Ns.Tds + "GetSystemDateAndTimeResponse", new XElement(Ns.Tds + "SystemDateAndTime",
            new XElement(Ns.Tt + "DateTimeType", "Manual"), new XElement(Ns.Tt + "DaylightSavings", "false"),
            new XElement(Ns.Tt + "TimeZone", new XElement(Ns.Tt + "TZ", "UTC0")),
            DateTimeElement("UTCDateTime", now), DateTimeElement("LocalDateTime", now))));
    }

    private string Service(string name) => $"http://{AdvertisedAuthority}/onvif/{name}";

    private SimResponse Capabilities() => Ok(new XElement(Ns.Tds + "GetCapabilitiesResponse", new XElement(Ns.Tds + "Capabilities",
        new XElement(Ns.Tt + "Device", new XElement(Ns.Tt + "XAddr", Service("device_service"))),
        new XElement(Ns.Tt + "Events", new XElement(Ns.Tt + "XAddr", Service("Events")), new XElement(Ns.Tt + "WSSubscriptionPolicySupport", "true"),
            new XElement(Ns.Tt + "WSPullPointSupport", "true"), new XElement(Ns.Tt + "WSPausableSubscriptionManagerInterfaceSupport", "false")),
        new XElement(Ns.Tt + "Imaging", new XElement(Ns.Tt + "XAddr", Service("Imaging"))),
        new XElement(Ns.Tt + "Media", new XElement(Ns.Tt + "XAddr", Service("Media")),
            new XElement(Ns.Tt + "StreamingCapabilities", new XElement(Ns.Tt + "RTPMulticast", "false"), new XElement(Ns.Tt + "RTP_TCP", "true"), new XElement(Ns.Tt + "RTP_RTSP_TCP", "true"))),
        Device.PtzChannel > 0 ? new XElement(Ns.Tt + "PTZ", new XElement(Ns.Tt + "XAddr", Service("PTZ"))) : null,
        new XElement(Ns.Tt + "Extension",
            new XElement(Ns.Tt + "Search", new XElement(Ns.Tt + "XAddr", Service("SearchRecording")), new XElement(Ns.Tt + "MetadataSearch", "false")),
            new XElement(Ns.Tt + "Replay", new XElement(Ns.Tt + "XAddr", Service("Replay")))))));

    private SimResponse Services()
    {
        var list = new List<(string Ns, string Name)>
        {
            ("http://www.onvif.org/ver10/device/wsdl", "device_service"),
            ("http://www.onvif.org/ver10/media/wsdl", "Media"),
            ("http://www.onvif.org/ver10/events/wsdl", "Events"),
            ("http://www.onvif.org/ver10/replay/wsdl", "Replay"),
        };
        if (Device.PtzChannel > 0)
        {
            list.Add(("http://www.onvif.org/ver20/ptz/wsdl", "PTZ"));
        }
        if (Device.Media2)
        {
            list.Add(("http://www.onvif.org/ver20/media/wsdl", "Media2"));
        }
        return Ok(new XElement(Ns.Tds + "GetServicesResponse", list.Select(s => new XElement(Ns.Tds + "Service",
            new XElement(Ns.Tds + "Namespace", s.Ns), new XElement(Ns.Tds + "XAddr", Service(s.Name)),
            new XElement(Ns.Tds + "Version", new XElement(Ns.Tt + "Major", "2"), new XElement(Ns.Tt + "Minor", "60"))))));
    }

    public IEnumerable<string> Scopes() =>
    [
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/Profile/Streaming",
        "onvif://www.onvif.org/hardware/" + Uri.EscapeDataString(Device.Model),
        "onvif://www.onvif.org/name/" + Uri.EscapeDataString(Device.Name),
        "onvif://www.onvif.org/location/" + Uri.EscapeDataString(Device.Location),
    ];

    private sealed record SimProfile(string Token, int Channel, bool Main, int Width, int Height);

    private IEnumerable<SimProfile> AllProfiles()
    {
        // Sub first: the gateway must pick main by resolution, not by order.
        for (var c = 1; c <= Device.Channels; c++)
        {
            yield return new SimProfile(SubProfile(c), c, false, 640, 360);
            yield return new SimProfile(MainProfile(c), c, true, 1920, 1080);
        }
    }

    private XElement Profile1(XName name, SimProfile p) => new(name, new XAttribute("token", p.Token), new XAttribute("fixed", "true"),
        new XElement(Ns.Tt + "Name", p.Main ? "mainStream" : "subStream"),
        new XElement(Ns.Tt + "VideoSourceConfiguration", new XAttribute("token", ConfigToken(p.Channel)),
            new XElement(Ns.Tt + "Name", "VideoSourceConfig"), new XElement(Ns.Tt + "UseCount", "2"),
            new XElement(Ns.Tt + "SourceToken", SourceToken(p.Channel)),
            new XElement(Ns.Tt + "Bounds", new XAttribute("x", "0"), new XAttribute("y", "0"), new XAttribute("width", "1920"), new XAttribute("height", "1080"))),
        new XElement(Ns.Tt + "VideoEncoderConfiguration", new XAttribute("token", "VideoEncoder_" + p.Token),
            new XElement(Ns.Tt + "Name", "VideoEncoder"), new XElement(Ns.Tt + "UseCount", "1"), new XElement(Ns.Tt + "Encoding", "H264"),
            new XElement(Ns.Tt + "Resolution", new XElement(Ns.Tt + "Width", p.Width), new XElement(Ns.Tt + "Height", p.Height)),
            new XElement(Ns.Tt + "Quality", "3"),
            new XElement(Ns.Tt + "RateControl", new XElement(Ns.Tt + "FrameRateLimit", "25"), new XElement(Ns.Tt + "EncodingInterval", "1"), new XElement(Ns.Tt + "BitrateLimit", p.Main ? "4096" : "512")),
            new XElement(Ns.Tt + "H264", new XElement(Ns.Tt + "GovLength", "50"), new XElement(Ns.Tt + "H264Profile", "Main")),
            new XElement(Ns.Tt + "Multicast", new XElement(Ns.Tt + "Address", new XElement(Ns.Tt + "Type", "IPv4"), new XElement(Ns.Tt + "IPv4Address", "0.0.0.0")),
                new XElement(Ns.Tt + "Port", "8860"), new XElement(Ns.Tt + "TTL", "128"), new XElement(Ns.Tt + "AutoStart", "false")),
            new XElement(Ns.Tt + "SessionTimeout", "PT5S")),
        p.Channel == Device.PtzChannel ? new XElement(Ns.Tt + "PTZConfiguration", new XAttribute("token", "PTZToken"),
            new XElement(Ns.Tt + "Name", "PTZ"), new XElement(Ns.Tt + "UseCount", "2"), new XElement(Ns.Tt + "NodeToken", "PTZNODETOKEN")) : null,
        p.Channel == Device.AudioOutputChannel ? new XElement(Ns.Tt + "Extension", new XElement(Ns.Tt + "AudioOutputConfiguration", new XAttribute("token", "AudioOutputConfigToken"),
            new XElement(Ns.Tt + "Name", "AudioOut"), new XElement(Ns.Tt + "UseCount", "1"), new XElement(Ns.Tt + "OutputToken", "AudioOutputToken"))) : null);

    private XElement Profile2(SimProfile p) => new(Ns.Tr2 + "Profiles", new XAttribute("token", p.Token), new XAttribute("fixed", "true"),
        new XElement(Ns.Tr2 + "Name", p.Main ? "mainStream" : "subStream"),
        new XElement(Ns.Tr2 + "Configurations",
            new XElement(Ns.Tr2 + "VideoSource", new XAttribute("token", ConfigToken(p.Channel)), new XElement(Ns.Tt + "Name", "VideoSourceConfig"),
                new XElement(Ns.Tt + "UseCount", "2"), new XElement(Ns.Tt + "SourceToken", SourceToken(p.Channel))),
            new XElement(Ns.Tr2 + "VideoEncoder", new XAttribute("token", "VideoEncoder_" + p.Token), new XElement(Ns.Tt + "Name", "VideoEncoder"),
                new XElement(Ns.Tt + "UseCount", "1"), new XElement(Ns.Tt + "Encoding", "H265"),
                new XElement(Ns.Tt + "Resolution", new XElement(Ns.Tt + "Width", p.Width), new XElement(Ns.Tt + "Height", p.Height))),
            p.Channel == Device.PtzChannel ? new XElement(Ns.Tr2 + "PTZ", new XAttribute("token", "PTZToken"), new XElement(Ns.Tt + "Name", "PTZ"),
                new XElement(Ns.Tt + "UseCount", "2"), new XElement(Ns.Tt + "NodeToken", "PTZNODETOKEN")) : null,
            p.Channel == Device.AudioOutputChannel ? new XElement(Ns.Tr2 + "AudioOutput", new XAttribute("token", "AudioOutputConfigToken"),
                new XElement(Ns.Tt + "Name", "AudioOut"), new XElement(Ns.Tt + "UseCount", "1"), new XElement(Ns.Tt + "OutputToken", "AudioOutputToken")) : null));

    private SimResponse GetProfile(XElement body)
    {
        var token = body.Elements().FirstOrDefault(e => e.Name.LocalName == "ProfileToken")?.Value;
        var p = AllProfiles().FirstOrDefault(x => x.Token == token);
        return p is null
            ? Fault(400, "env:Sender", "ter:InvalidArgVal", "No such profile", "ter:NoProfile")
            : Ok(new XElement(Ns.Trt + "GetProfileResponse", Profile1(Ns.Trt + "Profile", p)));
    }

    private SimResponse StreamUri(XElement body)
    {
        var token = body.Elements().FirstOrDefault(e => e.Name.LocalName == "ProfileToken")?.Value;
        var p = AllProfiles().FirstOrDefault(x => x.Token == token);
        if (p is null)
        {
            return Fault(400, "env:Sender", "ter:InvalidArgVal", "No such profile", "ter:NoProfile");
        }
        var uri = Device.StreamUri?.Invoke(p.Channel, p.Main) ?? $"rtsp://{Device.AdvertisedHost ?? "127.0.0.1"}:554/Streaming/Channels/{p.Channel}{(p.Main ? "01" : "02")}?transportmode=unicast&profile={p.Token}";
        return body.Name.Namespace == Ns.Tr2
            ? Ok(new XElement(Ns.Tr2 + "GetStreamUriResponse", new XElement(Ns.Tr2 + "Uri", uri)))
            : Ok(new XElement(Ns.Trt + "GetStreamUriResponse", new XElement(Ns.Trt + "MediaUri", new XElement(Ns.Tt + "Uri", uri),
                new XElement(Ns.Tt + "InvalidAfterConnect", "false"), new XElement(Ns.Tt + "InvalidAfterReboot", "false"), new XElement(Ns.Tt + "Timeout", "PT60S"))));
    }

    private SimResponse CreateSubscription(XElement body)
    {
        var requested = body.Elements().FirstOrDefault(e => e.Name.LocalName == "InitialTerminationTime")?.Value;
        var lifetime = Device.SubscriptionLifetime ?? (requested is not null && requested.StartsWith('P') ? XmlConvert.ToTimeSpan(requested) : TimeSpan.FromMinutes(2));
        var id = Interlocked.Increment(ref _subscriptionCounter).ToString(CultureInfo.InvariantCulture);
        _subscriptions[id] = Channel.CreateUnbounded<XElement>();
        _terminations[id] = DateTime.UtcNow + lifetime;
        var now = DateTime.UtcNow + Device.ClockSkew;
        var reference = Device.SubscriptionReferenceParameters
            ? new XElement(Ns.Tev + "SubscriptionReference", new XElement(Ns.Wsa + "Address", $"http://{AdvertisedAuthority}/onvif/services"),
                new XElement(Ns.Wsa + "ReferenceParameters", new XElement(SubscriptionIdName, id)))
            : new XElement(Ns.Tev + "SubscriptionReference", new XElement(Ns.Wsa + "Address", $"http://{AdvertisedAuthority}/onvif/Events/PullSubManager_{id}"));
        return Ok(new XElement(Ns.Tev + "CreatePullPointSubscriptionResponse",
            reference,
            new XElement(Ns.Wsnt + "CurrentTime", XmlConvert.ToString(now, XmlDateTimeSerializationMode.Utc)),
            new XElement(Ns.Wsnt + "TerminationTime", XmlConvert.ToString(now + lifetime, XmlDateTimeSerializationMode.Utc))));
    }

    private static readonly XName SubscriptionIdName = XName.Get("SubscriptionId", "http://www.axis.com/2009/event");

    /// <summary>With reference parameters the subscription comes from the SOAP header, as Axis does it.</summary>
    private string SubscriptionPath(string path, XElement? header)
    {
        if (!Device.SubscriptionReferenceParameters)
        {
            return path;
        }
        var id = header?.Element(SubscriptionIdName)?.Value.Trim();
        return id is null ? "/missing-reference-parameter" : "/onvif/Events/PullSubManager_" + id;
    }

    private static string? SubscriptionId(string path)
    {
        const string prefix = "/onvif/Events/PullSubManager_";
        return path.StartsWith(prefix, StringComparison.Ordinal) ? path[prefix.Length..] : null;
    }

    private async Task<SimResponse> PullAsync(string path, XElement body)
    {
        if (SubscriptionId(path) is not { } id || !_subscriptions.TryGetValue(id, out var queue) || Expired(id))
        {
            return Fault(400, "env:Sender", "ter:InvalidArgVal", "Unknown subscription", "ter:ResourceUnknown");
        }
        Interlocked.Increment(ref PullMessages);
        var timeout = XmlConvert.ToTimeSpan(body.Elements().First(e => e.Name.LocalName == "Timeout").Value);
        var limit = int.Parse(body.Elements().First(e => e.Name.LocalName == "MessageLimit").Value, CultureInfo.InvariantCulture);
        var messages = new List<XElement>();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            messages.Add(await queue.Reader.ReadAsync(cts.Token));
            while (messages.Count < limit && queue.Reader.TryRead(out var more))
            {
                messages.Add(more);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ChannelClosedException)
        {
        }
        var real = DateTime.UtcNow;
        var left = _terminations.TryGetValue(id, out var ends) ? ends - real : TimeSpan.Zero;
        var now = real + Device.ClockSkew;
        return Ok(new XElement(Ns.Tev + "PullMessagesResponse",
            new XElement(Ns.Tev + "CurrentTime", XmlConvert.ToString(now, XmlDateTimeSerializationMode.Utc)),
            new XElement(Ns.Tev + "TerminationTime", XmlConvert.ToString(now + left, XmlDateTimeSerializationMode.Utc)),
            messages));
    }

    private SimResponse Renew(string path)
    {
        if (SubscriptionId(path) is not { } id || !_subscriptions.ContainsKey(id) || Expired(id))
        {
            return Fault(400, "env:Sender", "ter:InvalidArgVal", "Unknown subscription", "ter:ResourceUnknown");
        }
        if (!Device.RenewSupported)
        {
            Interlocked.Increment(ref RenewFaults);
            return Fault(400, "env:Receiver", "ter:ActionNotSupported", "Renew is not supported");
        }
        Interlocked.Increment(ref Renewals);
        var lifetime = Device.SubscriptionLifetime ?? TimeSpan.FromMinutes(2);
        _terminations[id] = DateTime.UtcNow + lifetime;
        var now = DateTime.UtcNow + Device.ClockSkew;
        return Ok(new XElement(Ns.Wsnt + "RenewResponse",
            new XElement(Ns.Wsnt + "TerminationTime", XmlConvert.ToString(now + lifetime, XmlDateTimeSerializationMode.Utc)),
            new XElement(Ns.Wsnt + "CurrentTime", XmlConvert.ToString(now, XmlDateTimeSerializationMode.Utc))));
    }

    /// <summary>A subscription past its termination time is gone (the device forgot it).</summary>
    private bool Expired(string id)
    {
        if (!_terminations.TryGetValue(id, out var ends) || DateTime.UtcNow < ends)
        {
            return false;
        }
        if (_subscriptions.TryRemove(id, out var q))
        {
            q.Writer.TryComplete();
        }
        return true;
    }

    private SimResponse Unsubscribe(string path)
    {
        if (SubscriptionId(path) is { } id && !Expired(id) && _subscriptions.TryRemove(id, out var q))
        {
            q.Writer.TryComplete();
            Interlocked.Increment(ref Unsubscribes);
        }
        return Ok(new XElement(Ns.Wsnt + "UnsubscribeResponse"));
    }

    /// <summary>Drops every subscription (a device reboot): the next PullMessages gets a fault.</summary>
    public void DropSubscriptions()
    {
        foreach (var id in _subscriptions.Keys)
        {
            if (_subscriptions.TryRemove(id, out var q))
            {
                q.Writer.TryComplete();
            }
        }
    }

    private SimResponse Ptz(XElement body)
    {
        var token = body.Elements().FirstOrDefault(e => e.Name.LocalName == "ProfileToken")?.Value;
        if (token != MainProfile(Device.PtzChannel) && token != SubProfile(Device.PtzChannel))
        {
            return Fault(400, "env:Sender", "ter:InvalidArgVal", "No PTZ on this profile", "ter:NoProfile");
        }
        if (Device.RejectCombinedPanTiltZoom && body.Name.LocalName is "ContinuousMove" or "AbsoluteMove" or "RelativeMove")
        {
            var vector = body.Elements().FirstOrDefault(e => e.Name.LocalName is "Velocity" or "Position" or "Translation");
            if (vector?.Elements().Count() > 1)
            {
                return Fault(400, "env:Sender", "ter:InvalidArgVal", "PanTilt and Zoom cannot be combined", "ter:InvalidVelocity");
            }
        }
        PtzRequests.Enqueue(new XElement(body));
        return Ok(new XElement(Ns.Tptz + (body.Name.LocalName + "Response")));
    }

    private SimResponse Presets(XElement body)
    {
        var token = body.Elements().FirstOrDefault(e => e.Name.LocalName == "ProfileToken")?.Value;
        if (token != MainProfile(Device.PtzChannel))
        {
            return Fault(400, "env:Sender", "ter:InvalidArgVal", "No PTZ on this profile", "ter:NoProfile");
        }
        return Ok(new XElement(Ns.Tptz + "GetPresetsResponse",
            new XElement(Ns.Tptz + "Preset", new XAttribute("token", "1"), new XElement(Ns.Tt + "Name", "Gate")),
            new XElement(Ns.Tptz + "Preset", new XAttribute("token", "2"), new XElement(Ns.Tt + "Name", "Parking"))));
    }

    // ---------------------------------------------------------------- envelopes

    public static SimResponse Ok(XElement body) => new(200, Envelope(body));

    public static SimResponse Fault(int status, string code, string subcode, string reason, string? subsubcode = null) => new(status, Envelope(
        new XElement(Ns.Soap12 + "Fault",
            new XElement(Ns.Soap12 + "Code", new XElement(Ns.Soap12 + "Value", code),
                new XElement(Ns.Soap12 + "Subcode", new XElement(Ns.Soap12 + "Value", subcode),
                    subsubcode is null ? null : new XElement(Ns.Soap12 + "Subcode", new XElement(Ns.Soap12 + "Value", subsubcode)))),
            new XElement(Ns.Soap12 + "Reason", new XElement(Ns.Soap12 + "Text", new XAttribute(XNamespace.Xml + "lang", "en"), reason)))));

    public static byte[] Envelope(XElement body)
    {
        var env = new XElement(Ns.Soap12 + "Envelope",
            new XAttribute(XNamespace.Xmlns + "env", Ns.Soap12.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "tt", Ns.Tt.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "tds", Ns.Tds.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "trt", Ns.Trt.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "tr2", Ns.Tr2.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "tptz", Ns.Tptz.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "tev", Ns.Tev.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "wsnt", Ns.Wsnt.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "wsa", Ns.Wsa.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "ter", Ns.Ter.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "tns1", "http://www.onvif.org/ver10/topics"),
            new XElement(Ns.Soap12 + "Body", body));
        return Encoding.UTF8.GetBytes("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + env.ToString(SaveOptions.DisableFormatting));
    }

    public async ValueTask DisposeAsync()
    {
        DropSubscriptions();
        await _http.DisposeAsync();
    }
}
