using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Cloud;
using HikShareGateway.Composition;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Onvif.Simulator;

namespace HikShareGateway.Tests.WebApp;

/// <summary>
/// What the web viewer's browser tests run against: the real gateway process (<see cref="DemoGatewayProcess"/>) linked
/// to a real mosquitto, with a cloud key of the test's own; an ONVIF NVR (<see cref="OnvifSimulator"/>: PTZ, events)
/// whose streams are a real gst-rtsp-server camera, and whose recordings (ONVIF Profile G search and replay, answered in
/// the shapes of the recorded responses in TestData/onvif/profile-g) are a second gst-rtsp-server camera in replay mode
/// on the wall clock (<see cref="Recorder"/>); and the signed grants the test publishes.
/// <list type="bullet">
/// <item><see cref="Alice"/>: every privilege on every channel of <see cref="NvrId"/>, live view on the demo NVR.</item>
/// <item><see cref="Bob"/>: live view on channel 1 of <see cref="NvrId"/>, nothing else.</item>
/// <item><see cref="Carol"/>: live view on channel 1 of <see cref="NvrId"/>, in a share of her own that a test deletes.</item>
/// </list>
/// </summary>
public sealed class WebAppLab : IAsyncDisposable
{
    public const string Owner = "owner@example.com";
    public const string Alice = "alice@example.com";
    public const string Bob = "bob@example.com";
    public const string Carol = "carol@example.com";
    /// <summary>Live view and two-way audio on channel 1 of <see cref="NvrId"/>, in a share of his own that the talk revocation test deletes.</summary>
    public const string Dave = "dave@example.com";
    public const string DaveShare = "share-dave";
    /// <summary>Two-way audio on channel 1 of <see cref="NvrId"/> and nothing else (no live view): a talker only.</summary>
    public const string Erin = "erin@example.com";
    public const string NvrId = "SIMNVR0001";
    public const string CarolShare = "share-carol";
    public const string AliceRemark = "Shop: everything";
    private readonly DateTimeOffset _expires = DateTimeOffset.UtcNow.AddDays(30);
    private long _version = 100;

    /// <summary>The length of the recorder's file: 60 s, of which the first half repeats (see <see cref="GstCameraOptions.ClockOrigin"/>).</summary>
    public const int RecordingFileSeconds = 60;

    private WebAppLab(MosquittoBroker broker, GstRtspCamera camera, OnvifSimulator onvif, Ed25519SigningKey key, GstRtspCamera recorder, string recordingDirectory,
        DateTimeOffset recordedFrom, DateTimeOffset recordedTo)
    {
        Broker = broker;
        Camera = camera;
        Onvif = onvif;
        Key = key;
        Recorder = recorder;
        _recordingDirectory = recordingDirectory;
        RecordedFrom = recordedFrom;
        RecordedTo = recordedTo;
        Topics = new CloudTopics(CloudTopics.DefaultPrefix, DemoDefaults.GatewayId);
    }

    public MosquittoBroker Broker { get; }
    public GstRtspCamera Camera { get; }

    /// <summary>Channel 1's recordings: gst-rtsp-server replaying a 320x240 H.264 file on the wall clock since <see cref="RecordedFrom"/>.</summary>
    public GstRtspCamera Recorder { get; }

    /// <summary>The one recording of channel 1 the NVR reports (EarliestRecording–LatestRecording): three days up to the lab's start.</summary>
    public DateTimeOffset RecordedFrom { get; }

    public DateTimeOffset RecordedTo { get; }

    private readonly string _recordingDirectory;
    public OnvifSimulator Onvif { get; }
    public Ed25519SigningKey Key { get; }
    public CloudTopics Topics { get; }
    public DemoGatewayProcess Gateway { get; private set; } = null!;
    public string BaseUrl => $"http://127.0.0.1:{Gateway.HttpPort}";
    public DateTimeOffset AliceShareExpires => _expires;

    public static async Task<WebAppLab> StartAsync()
    {
        var broker = await MosquittoBroker.StartAsync();
        GstRtspCamera? camera = null;
        GstRtspCamera? recorder = null;
        OnvifSimulator? onvif = null;
        var recordings = Path.Combine(Path.GetTempPath(), "hikshare-webapp-rec-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            camera = await GstRtspCamera.StartAsync(new GstCameraOptions());
            var now = DateTimeOffset.UtcNow;
            var recordedTo = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, now.Second, TimeSpan.Zero);
            var recordedFrom = recordedTo.AddDays(-3);
            recorder = await StartRecorderAsync(recordings, recordedFrom);
            // Both channels are the one camera (its main and sub mounts), at the address the NVR advertises.
            var port = camera.Port;
            onvif = new OnvifSimulator(new SimDevice
            {
                Serial = NvrId, Name = "Shop NVR", Channels = 2,
                StreamUri = (_, main) => $"rtsp://127.0.0.2:{port}{(main ? GstRtspCamera.MainPath : GstRtspCamera.SubPath)}",
            });
            AnswerRecordingSearch(onvif, recorder, recordedFrom, recordedTo);
            var lab = new WebAppLab(broker, camera, onvif, Ed25519SigningKey.Generate("webapp-test"), recorder, recordings, recordedFrom, recordedTo);
            // Retained before the gateway starts: it applies them as soon as it is connected.
            await lab.PublishAsync(lab.Topics.Grants, GrantsJson.Write(lab.Snapshot()), retain: true);
            var jwk = JsonDocument.Parse(lab.Key.Public.ToJson()).RootElement;
            lab.Gateway = await DemoGatewayProcess.StartAsync(new Dictionary<string, string>
            {
                ["HIKSHARE_Cloud__Broker"] = broker.Url,
                ["HIKSHARE_Cloud__TrustedKeys__0__Kid"] = jwk.GetProperty("kid").GetString()!,
                ["HIKSHARE_Cloud__TrustedKeys__0__Kty"] = "OKP",
                ["HIKSHARE_Cloud__TrustedKeys__0__Crv"] = "Ed25519",
                ["HIKSHARE_Cloud__TrustedKeys__0__X"] = jwk.GetProperty("x").GetString()!,
                ["HIKSHARE_Devices__1__OnvifUrl"] = onvif.DeviceServiceUri.ToString(),
                ["HIKSHARE_Devices__1__Username"] = onvif.Device.Username,
                ["HIKSHARE_Devices__1__Password"] = onvif.Device.Password,
            }, demoCloud: false);
            // The NVR is read over ONVIF after start; the app is tested once the API lists it.
            using var http = new HttpClient { BaseAddress = new Uri(lab.BaseUrl) };
            await Wait.UntilAsync(async () =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/devices");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", lab.Token(Alice));
                using var response = await http.SendAsync(request);
                return response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync()).Contains(NvrId, StringComparison.Ordinal);
            }, "the ONVIF NVR in Alice's device list", 30_000);
            return lab;
        }
        catch
        {
            if (onvif is not null) await onvif.DisposeAsync();
            if (recorder is not null) await recorder.DisposeAsync();
            if (camera is not null) await camera.DisposeAsync();
            await broker.DisposeAsync();
            DeleteDirectory(recordings);
            throw;
        }
    }

    /// <summary>A 60 s, 25 fps, 320x240 H.264 MP4 (keyframe every second) made with ffmpeg, served as a recorder on the wall clock since <paramref name="origin"/>.</summary>
    private static async Task<GstRtspCamera> StartRecorderAsync(string directory, DateTimeOffset origin)
    {
        Directory.CreateDirectory(directory);
        var mp4 = Path.Combine(directory, "recording.mp4");
        var make = await ToolRunner.RunAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-t", RecordingFileSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", mp4],
            TimeSpan.FromSeconds(60));
        if (!make.Succeeded)
        {
            throw new InvalidOperationException("ffmpeg could not make the recording: " + make);
        }
        return await GstRtspCamera.StartAsync(new GstCameraOptions { Mode = GstCameraMode.Replay, ReplayFile = mp4, ClockOrigin = origin });
    }

    /// <summary>
    /// ONVIF Profile G on the simulator: FindRecordings, GetRecordingSearchResults and GetReplayUri answered with the
    /// recorded responses (TestData/onvif/profile-g), their recording made channel 1's (its source token), dated
    /// <paramref name="from"/>–<paramref name="to"/>, and its replay URI the recorder at the address the NVR advertises.
    /// </summary>
    private static void AnswerRecordingSearch(OnvifSimulator onvif, GstRtspCamera recorder, DateTimeOffset from, DateTimeOffset to)
    {
        static string Fixture(string file) => Encoding.UTF8.GetString(TestData.Bytes("onvif", "profile-g", file));
        static string Xml(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var results = Fixture("get_recording_search_results.xml")
            .Replace("SourceId_1", OnvifSimulator.SourceToken(1), StringComparison.Ordinal)
            .Replace("1970-01-01T00:03:15Z", Xml(from), StringComparison.Ordinal)
            .Replace("2025-03-15T16:28:00Z", Xml(to), StringComparison.Ordinal);
        var replay = Fixture("get_replay_uri.xml").Replace("rtsp://192.168.1.136/onvif-media/record/play.amp",
            $"rtsp://127.0.0.2:{recorder.Port}{GstRtspCamera.ReplayPath}", StringComparison.Ordinal);
        onvif.Override("FindRecordings", () => new SimResponse(200, TestData.Bytes("onvif", "profile-g", "find_recordings.xml")));
        onvif.Override("GetRecordingSearchResults", () => new SimResponse(200, Encoding.UTF8.GetBytes(results)));
        onvif.Override("GetReplayUri", () => new SimResponse(200, Encoding.UTF8.GetBytes(replay)));
    }

    private static void DeleteDirectory(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>A viewer token for <paramref name="account"/>, valid one hour.</summary>
    public string Token(string account, TimeSpan? ttl = null) =>
        ViewerTokens.Mint(Key, account, [DemoDefaults.GatewayId], ttl ?? TimeSpan.FromHours(1), DateTimeOffset.UtcNow);

    public GrantsSnapshot Snapshot() => new(DemoDefaults.GatewayId, _version, DateTimeOffset.UtcNow,
        [new GrantDevice(NvrId, Owner), new GrantDevice(DemoDefaults.DeviceId, Owner)],
        [
            new Share("share-alice", Owner, Alice, AliceRemark, ShareState.Accepted, _expires,
                [new ShareDevice(NvrId, [], Privilege.All), new ShareDevice(DemoDefaults.DeviceId, [1], Privilege.LiveView)]),
            new Share("share-bob", Owner, Bob, "Front door only", ShareState.Accepted, null, [new ShareDevice(NvrId, [1], Privilege.LiveView)]),
            new Share(CarolShare, Owner, Carol, "Until further notice", ShareState.Accepted, null, [new ShareDevice(NvrId, [1], Privilege.LiveView)]),
            new Share(DaveShare, Owner, Dave, "Talk at the door", ShareState.Accepted, null, [new ShareDevice(NvrId, [1], Privilege.LiveView | Privilege.TwoWayAudio)]),
            new Share("share-erin", Owner, Erin, "Intercom only", ShareState.Accepted, null, [new ShareDevice(NvrId, [1], Privilege.TwoWayAudio)]),
        ]);

    /// <summary>Publishes a signed delta deleting <paramref name="shareId"/> (what the cloud sends when a share is deleted).</summary>
    public async Task RemoveShareAsync(string shareId)
    {
        var delta = new GrantsDelta(DemoDefaults.GatewayId, _version, _version + 1, DateTimeOffset.UtcNow, [], [], [], [shareId]);
        _version++;
        await PublishAsync(Topics.GrantsDelta, GrantsJson.Write(delta), retain: false);
    }

    private Task PublishAsync(string topic, byte[] payload, bool retain) =>
        MqttOneShot.PublishAsync(new BrokerAddress("127.0.0.1", Broker.Port, false), null, null, topic,
            Encoding.ASCII.GetBytes(Jws.Sign(payload, Key)), retain, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null) await Gateway.DisposeAsync();
        await Onvif.DisposeAsync();
        await Recorder.DisposeAsync();
        await Camera.DisposeAsync();
        await Broker.DisposeAsync();
        DeleteDirectory(_recordingDirectory);
    }
}
