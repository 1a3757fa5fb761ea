using System.Xml.Linq;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Catalog;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Recordings;
using HikShareGateway.Onvif.Soap;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Onvif;
using HikShareGateway.Tests.Onvif.Simulator;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Playback;

/// <summary>Profile G: the recorded responses in tests/TestData/onvif/profile-g parsed, and the search/replay calls made against the ONVIF simulator answering with them.</summary>
[Trait("Category", "Unit")]
public sealed class PlaybackOnvifTests : IAsyncLifetime
{
    private OnvifSimulator _sim = null!;
    private OnvifClientPool _pool = null!;
    private OnvifRecordingService _service = null!;
    private string _id = null!;

    private static XElement Body(string file) => SoapEnvelope.ReadBody(TestData.Bytes("onvif", "profile-g", file), file);
    private static SimResponse Fixture(string file) => new(200, TestData.Bytes("onvif", "profile-g", file));

    public async Task InitializeAsync()
    {
        _sim = new OnvifSimulator();
        _sim.Override("FindRecordings", () => Fixture("find_recordings.xml"));
        _sim.Override("GetRecordingSearchResults", () => Fixture("get_recording_search_results.xml"));
        _sim.Override("GetReplayUri", () => Fixture("get_replay_uri.xml"));
        _pool = new OnvifClientPool(OnvifTestKit.Options(), TimeProvider.System, NullLoggerFactory.Instance);
        var catalog = new OnvifDeviceCatalog(StaticDeviceCatalog.FromOptions(Array.Empty<DeviceOptions>()));
        var creds = new DeviceCredentials(_sim.Device.Username, _sim.Device.Password);
        catalog.Upsert(await OnvifDeviceReader.ReadAsync(_pool.Get(_sim.DeviceServiceUri, creds), TimeProvider.System, default), creds, DeviceSource.Configuration);
        _id = _sim.Device.Serial;
        _service = new OnvifRecordingService(catalog, _pool);
    }

    public async Task DisposeAsync()
    {
        _pool.Dispose();
        await _sim.DisposeAsync();
    }

    [Fact]
    public void RecordedResponses_Parse()
    {
        Assert.Equal("RecordingSearchToken_1", RecordingParsers.ParseFindRecordings(Body("find_recordings.xml")));

        var (recordings, completed) = RecordingParsers.ParseRecordingSearchResults(Body("get_recording_search_results.xml"));
        Assert.True(completed);
        var r = Assert.Single(recordings);
        Assert.Equal(("OnvifRecordingToken_1", "IpCamera_1", "SourceId_1"), (r.Token, r.SourceName, r.SourceId));
        Assert.Equal(new DateTimeOffset(1970, 1, 1, 0, 3, 15, TimeSpan.Zero), r.Earliest);
        Assert.Equal(new DateTimeOffset(2025, 3, 15, 16, 28, 0, TimeSpan.Zero), r.Latest);

        Assert.Equal("SD_DISK_20200422_123501_A2388AB3", RecordingParsers.ParseRecordings(Body("get_recordings.xml"))[0].Token);
        Assert.Equal("rtsp://192.168.1.136/onvif-media/record/play.amp?onvifreplayid=SD_DISK_20200422_132655_67086B52&onvifreplayext=1&streamtype=unicast&session_timeout=30",
            RecordingParsers.ParseReplayUri(Body("get_replay_uri.xml")).OriginalString);
    }

    [Fact]
    public void Requests_HaveTheShapesOfTheWsdls()
    {
        var find = OnvifRequests.FindRecordings(100, TimeSpan.FromSeconds(10));
        Assert.Equal(Ns.Tse + "FindRecordings", find.Name);
        Assert.Equal(["Scope", "MaxMatches", "KeepAliveTime"], find.Elements().Select(e => e.Name.LocalName));
        Assert.Equal("PT10S", find.Element(Ns.Tse + "KeepAliveTime")!.Value);
        var results = OnvifRequests.GetRecordingSearchResults("tok", 100, TimeSpan.FromSeconds(1));
        Assert.Equal(["SearchToken", "MinResults", "MaxResults", "WaitTime"], results.Elements().Select(e => e.Name.LocalName));
        var replay = OnvifRequests.GetReplayUri("rec-1");
        Assert.Equal(Ns.Trp + "GetReplayUri", replay.Name);
        Assert.Equal("RTP-Unicast", replay.Element(Ns.Trp + "StreamSetup")!.Element(Ns.Tt + "Stream")!.Value);
        Assert.Equal("RTSP", replay.Descendants(Ns.Tt + "Protocol").Single().Value);
        Assert.Equal("rec-1", replay.Element(Ns.Trp + "RecordingToken")!.Value);
    }

    [Fact]
    public async Task Find_SearchesThenClipsTheRecordingToTheWindow()
    {
        var spans = await _service.FindAsync(_id, 1, new DateTimeOffset(2025, 3, 15, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2025, 3, 16, 0, 0, 0, TimeSpan.Zero), default);

        var s = Assert.Single(spans);
        Assert.Equal((new DateTimeOffset(2025, 3, 15, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2025, 3, 15, 16, 28, 0, TimeSpan.Zero), "OnvifRecordingToken_1"), (s.Start, s.End, s.RecordingToken));
        Assert.Equal(["FindRecordings", "GetRecordingSearchResults"], _sim.Operations.Where(o => o.Contains("Recording")));
        Assert.Empty(await _service.FindAsync(_id, 1, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 1, 2, 0, 0, 0, TimeSpan.Zero), default));
    }

    [Fact]
    public async Task ReplayUri_IsRewrittenToTheAddressTheDeviceIsReachedAt()
    {
        var uri = await _service.GetReplayUriAsync(_id, 1, new DateTimeOffset(2025, 3, 15, 10, 0, 0, TimeSpan.Zero), default);

        Assert.Equal("rtsp://127.0.0.1/onvif-media/record/play.amp?onvifreplayid=SD_DISK_20200422_132655_67086B52&onvifreplayext=1&streamtype=unicast&session_timeout=30", uri.OriginalString);
        Assert.Contains("GetReplayUri", _sim.Operations);
    }

    [Fact]
    public async Task SearchFault_IsADeviceFailure()
    {
        _sim.Override("FindRecordings", () => OnvifSimulator.Fault(500, "env:Receiver", "ter:Action", "disk error"));
        var e = await Assert.ThrowsAsync<DeviceException>(() => _service.FindAsync(_id, 1, DateTimeOffset.UnixEpoch, DateTimeOffset.UtcNow, default));
        Assert.Equal(DeviceErrorKind.Failed, e.Kind);
    }

    [Fact]
    public void ForChannel_BySource_ThenByPosition_ThenTheOnlyOne()
    {
        var device = new DeviceInfo
        {
            DeviceId = "nvr",
            Channels = [new ChannelInfo { Channel = 1, VideoSourceToken = "VS1" }, new ChannelInfo { Channel = 2, VideoSourceToken = "VS2" }],
        };
        OnvifRecording Rec(string token, string? source) => new(token, null, null, null) { SourceId = source };

        Assert.Equal("b", OnvifRecordingService.ForChannel(device, device.Channels[1], [Rec("a", "VS1"), Rec("b", "VS2")]).Single().Token);
        Assert.Equal("y", OnvifRecordingService.ForChannel(device, device.Channels[1], [Rec("x", "s-1"), Rec("y", "s-2")]).Single().Token);
        Assert.Equal("only", OnvifRecordingService.ForChannel(device, device.Channels[1], [Rec("only", null)]).Single().Token);
        Assert.Empty(OnvifRecordingService.ForChannel(device, device.Channels[0], []));
        Assert.Throws<DeviceException>(() => OnvifRecordingService.ForChannel(device, device.Channels[0], [Rec("p", null), Rec("q", null), Rec("r", null)]));
    }
}
