using System.Xml.Linq;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Onvif;

/// <summary>Every recorded real-device response under TestData/onvif goes through the parser that fits it.</summary>
[Trait("Category", "Unit")]
public sealed class FixtureParserTests
{
    private const string Hik = "hikvision-DS-2DF7276-AEL";
    private const string Axis = "axis-Q6045-E";

    public static TheoryData<string> AllFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in TestData.Files("onvif", "*.xml"))
        {
            data.Add(Path.GetRelativePath(TestData.PathOf("onvif"), f));
        }
        return data;
    }

    private static XElement Body(params string[] path) =>
        SoapEnvelope.ReadBody(TestData.Bytes(["onvif", .. path]), path[^1]);

    /// <summary>The operation a fixture file answers: <c>GetProfiles.Response.xml</c> and <c>get_profiles.xml</c> both give GetProfiles.</summary>
    private static string OperationOf(string file)
    {
        var name = Path.GetFileName(file);
        name = name[..name.IndexOf('.')];
        return name.Contains('_')
            ? string.Concat(name.Split('_').Select(p => char.ToUpperInvariant(p[0]) + p[1..]))
            : name;
    }

    [Theory]
    [MemberData(nameof(AllFiles))]
    public void EveryFixture_ParsesIntoItsResponseOrAClearFault(string relative)
    {
        var bytes = TestData.Bytes("onvif", relative);
        var operation = OperationOf(relative);
        var isFault = relative.EndsWith(".Error.xml", StringComparison.Ordinal) || relative.EndsWith("soap_fault.xml", StringComparison.Ordinal);
        if (isFault)
        {
            var e = Assert.Throws<DeviceException>(() => SoapEnvelope.ReadBody(bytes, operation));
            var fault = e.Fault();
            Assert.NotNull(fault);
            Assert.False(string.IsNullOrWhiteSpace(fault.Code), relative);
            Assert.Contains(operation + ": the device answered with SOAP fault", e.Message);
            Assert.Contains(fault.Code, e.Message);
            return;
        }

        var body = SoapEnvelope.ReadBody(bytes, operation);
        var expected = operation switch
        {
            "GetPtzPresets" => "GetPresetsResponse",
            _ => operation + "Response",
        };
        Assert.Equal(expected, body.Name.LocalName);

        // The typed parser for the calls the gateway makes must produce something real.
        switch (body.Name.LocalName)
        {
            case "GetDeviceInformationResponse":
                Assert.NotNull(DeviceParsers.ParseDeviceInformation(body).SerialNumber);
                break;
            case "GetSystemDateAndTimeResponse":
                Assert.True(DeviceParsers.ParseSystemDateAndTime(body)!.Value.Year >= 2018);
                break;
            case "GetCapabilitiesResponse":
                Assert.NotNull(DeviceParsers.ParseCapabilities(body).Device);
                break;
            case "GetServicesResponse":
                Assert.NotNull(DeviceParsers.ParseServices(body).Media);
                break;
            case "GetScopesResponse":
                Assert.NotEmpty(DeviceParsers.ParseScopes(body));
                break;
            case "GetProfilesResponse":
                Assert.All(MediaParsers.ParseProfiles(body), p => Assert.NotEmpty(p.Token));
                Assert.NotEmpty(MediaParsers.ParseProfiles(body));
                break;
            case "GetVideoSourcesResponse":
                Assert.All(MediaParsers.ParseVideoSources(body), v => Assert.True(v.Width > 0));
                break;
            case "GetStreamUriResponse":
                Assert.Equal("rtsp", MediaParsers.ParseStreamUri(body).Scheme);
                break;
            case "GetSnapshotUriResponse":
                Assert.Equal("http", MediaParsers.ParseSnapshotUri(body).Scheme);
                break;
            case "GetAudioOutputConfigurationsResponse":
                Assert.NotEmpty(MediaParsers.ParseAudioOutputConfigurations(body));
                break;
            case "GetPresetsResponse":
                Assert.NotEmpty(PtzParsers.ParsePresets(body));
                break;
            case "CreatePullPointSubscriptionResponse":
                Assert.Equal("http", EventParsers.ParseCreatePullPointSubscription(body).Address.Scheme);
                break;
            case "PullMessagesResponse":
                Assert.NotNull(EventParsers.ParsePullMessages(body).CurrentTime);
                break;
            case "GetEventPropertiesResponse":
                Assert.NotEmpty(EventParsers.ParseEventTopics(body));
                break;
            case "FindRecordingsResponse":
                Assert.NotEmpty(RecordingParsers.ParseFindRecordings(body));
                break;
            case "GetRecordingSearchResultsResponse":
                Assert.NotEmpty(RecordingParsers.ParseRecordingSearchResults(body).Recordings);
                break;
            case "GetRecordingsResponse":
                Assert.NotEmpty(RecordingParsers.ParseRecordings(body));
                break;
            case "GetReplayUriResponse":
                Assert.Equal("rtsp", RecordingParsers.ParseReplayUri(body).Scheme);
                break;
            case "AbsoluteMoveResponse" or "ContinuousMoveResponse" or "RelativeMoveResponse" or "StopResponse" or "GotoPresetResponse":
                PtzParsers.ParseEmpty(body, body.Name.LocalName[..^"Response".Length]);
                break;
        }
    }

    [Fact]
    public void SnapshotUri_Hikvision_And_Axis_GiveTheDevicesJpegAddress_QueryKept()
    {
        Assert.Equal("http://10.10.1.60/onvif/snapshot", MediaParsers.ParseSnapshotUri(Body(Hik, "media", "GetSnapshotUri.Response.xml")).ToString());
        var axis = MediaParsers.ParseSnapshotUri(Body(Axis, "media", "GetSnapshotUri.Response.xml"));
        Assert.Equal("http://192.168.0.19/onvif-cgi/jpg/image.cgi?resolution=1280x720&compression=20", axis.ToString());
    }

    [Fact]
    public void SnapshotUri_Media2Form_AndUnusableAnswers()
    {
        var media2 = new XElement(Ns.Tr2 + "GetSnapshotUriResponse", new XElement(Ns.Tr2 + "Uri", "https://192.0.2.7/snap.jpg"));
        Assert.Equal("https://192.0.2.7/snap.jpg", MediaParsers.ParseSnapshotUri(media2).ToString());
        foreach (var bad in new[] { "rtsp://192.0.2.7/snap", "/onvif/snapshot", "" })
        {
            var body = new XElement(Ns.Trt + "GetSnapshotUriResponse", new XElement(Ns.Trt + "MediaUri", new XElement(Ns.Tt + "Uri", bad)));
            var e = Assert.Throws<DeviceException>(() => MediaParsers.ParseSnapshotUri(body));
            Assert.Equal(DeviceErrorKind.Failed, e.Kind);
            Assert.DoesNotContain("192.0.2.7", e.Message);
        }
        Assert.Throws<DeviceException>(() => MediaParsers.ParseSnapshotUri(new XElement(Ns.Trt + "GetStreamUriResponse")));
    }

    [Fact]
    public void DeviceInformation_Hikvision_And_Axis_GiveSerialModelFirmware()
    {
        var hik = DeviceParsers.ParseDeviceInformation(Body(Hik, "core", "GetDeviceInformation.Response.xml"));
        Assert.Equal(new OnvifDeviceInformation("HIKVISION", "DS-2DF7276-AEL", "V5.1.6 build 140401", "DS-2DF7276-AEL20140613CCWR468714298B", "88"), hik);
        var axis = DeviceParsers.ParseDeviceInformation(Body(Axis, "core", "GetDeviceInformation.Response.xml"));
        Assert.Equal("00408CFAB754", axis.SerialNumber);
        Assert.Equal("AXIS Q6045-E", axis.Model);
        Assert.Equal("5.55.1.2", axis.FirmwareVersion);
    }

    [Fact]
    public void SystemDateAndTime_ReadsUtcClock_NotLocal()
    {
        Assert.Equal(new DateTimeOffset(2018, 2, 27, 18, 28, 1, TimeSpan.Zero), DeviceParsers.ParseSystemDateAndTime(Body(Hik, "core", "GetSystemDateAndTime.Response.xml")));
        Assert.Equal(2024, DeviceParsers.ParseSystemDateAndTime(Body("profile-g", "get_system_date_and_time.xml"))!.Value.Year);
    }

    [Fact]
    public void Capabilities_Hikvision_GivesEveryServiceAddress()
    {
        var c = DeviceParsers.ParseCapabilities(Body(Hik, "core", "GetCapabilities.Response.xml"));
        Assert.Equal("http://10.10.1.60/onvif/device_service", c.Device!.ToString());
        Assert.Equal("http://10.10.1.60/onvif/Media", c.Media!.ToString());
        Assert.Equal("http://10.10.1.60/onvif/PTZ", c.Ptz!.ToString());
        Assert.Equal("http://10.10.1.60/onvif/Events", c.Events!.ToString());
        Assert.Equal("http://10.10.1.60/onvif/DeviceIO", c.DeviceIo!.ToString());
        var axis = DeviceParsers.ParseCapabilities(Body(Axis, "core", "GetCapabilities.Response.xml"));
        Assert.Equal("http://192.168.0.19/onvif/services", axis.Media!.ToString());
    }

    [Fact]
    public void Services_Hikvision_MapsNamespacesToServices()
    {
        var s = DeviceParsers.ParseServices(Body(Hik, "core", "GetServices.Response.xml"));
        Assert.Equal("http://10.10.1.60/onvif/Media", s.Media!.ToString());
        Assert.Equal("http://10.10.1.60/onvif/Events", s.Events!.ToString());
        Assert.Equal("http://10.10.1.60/onvif/PTZ", s.Ptz!.ToString());
        Assert.Null(s.Media2);
    }

    [Fact]
    public void Scopes_Hikvision_GivesNameHardwareLocation()
    {
        var scopes = OnvifScopes.Parse(DeviceParsers.ParseScopes(Body(Hik, "core", "GetScopes.Response.xml")));
        Assert.Equal("DS-2DF7276-AEL", scopes.Name);
        Assert.Equal("DS-2DF7276-AEL", scopes.Hardware);
        Assert.Equal("city/hangzhou", scopes.Location);
        Assert.Contains("ptz", scopes.Types);
    }

    [Fact]
    public void Profiles_Hikvision_ThreeProfilesOnOneSource_WithPtzAndResolutions()
    {
        var p = MediaParsers.ParseProfiles(Body(Hik, "media", "GetProfiles.Response.xml"));
        Assert.Equal(["Profile_1", "Profile_2", "Profile_3"], p.Select(x => x.Token));
        Assert.All(p, x => Assert.Equal("VideoSource_1", x.VideoSourceToken));
        Assert.All(p, x => Assert.Equal("VideoSourceToken", x.VideoSourceConfigurationToken));
        Assert.All(p, x => Assert.Equal("PTZToken", x.PtzConfigurationToken));
        Assert.Equal((1280, 720), (p[0].Width, p[0].Height));
        Assert.Equal((704, 480), (p[1].Width, p[1].Height));
        Assert.Equal("mainStream", p[0].Name);
        Assert.Equal("H264", p[0].Encoding);
    }

    [Fact]
    public void Profiles_Axis_TokensAndSource()
    {
        var p = MediaParsers.ParseProfiles(Body(Axis, "media", "GetProfiles.Response.xml"));
        Assert.Contains(p, x => x.Token == "profile_1_h264" && x.Encoding == "H264");
        Assert.Contains(p, x => x.Token == "profile_1_jpeg" && x.Encoding == "JPEG");
        Assert.All(p, x => Assert.Equal("0", x.VideoSourceToken));
    }

    [Fact]
    public void VideoSources_And_StreamUris()
    {
        Assert.Equal([new OnvifVideoSource("VideoSource_1", 1280, 960, 30)], MediaParsers.ParseVideoSources(Body(Hik, "media", "GetVideoSources.Response.xml")));
        Assert.Equal("0", Assert.Single(MediaParsers.ParseVideoSources(Body(Axis, "media", "GetVideoSources.Response.xml"))).Token);
        Assert.Equal("rtsp://10.10.1.60:554/Streaming/Channels/3?transportmode=unicast&profile=Profile_3",
            MediaParsers.ParseStreamUri(Body(Hik, "media", "GetStreamUri.Response.xml")).OriginalString);
        Assert.Equal("rtsp://192.168.0.19/onvif-media/media.amp?profile=profile_1_jpeg&sessiontimeout=60&streamtype=unicast",
            MediaParsers.ParseStreamUri(Body(Axis, "media", "GetStreamUri.Response.xml")).OriginalString);
        Assert.Equal(["AudioOutputConfigToken"], MediaParsers.ParseAudioOutputConfigurations(Body(Hik, "media", "GetAudioOutputConfigurations.Response.xml")));
    }

    [Fact]
    public void Presets_NamesTokensAndPositions()
    {
        var hik = PtzParsers.ParsePresets(Body(Hik, "ptz", "GetPresets.Response.xml"));
        Assert.Equal(new OnvifPreset("4", "Parking", null, null, null), hik.Single(p => p.Token == "4"));
        Assert.Equal("West", hik.Single(p => p.Token == "5").Name);
        Assert.Null(hik.Single(p => p.Token == "7").Name);
        var axis = PtzParsers.ParsePresets(Body(Axis, "ptz", "GetPresets.Response.xml"));
        Assert.Equal("Living Room", axis.Single(p => p.Token == "22").Name);
        var g = PtzParsers.ParsePresets(Body("profile-g", "get_ptz_presets.xml"));
        Assert.Equal([new OnvifPreset("PresetToken001", "Entrance", 0.5, 0.25, 0.0), new OnvifPreset("PresetToken002", "Parking", -0.3, -0.1, 0.5)], g);
    }

    [Fact]
    public void PullPoint_Subscriptions_AddressesAndReferenceParameters()
    {
        var hik = EventParsers.ParseCreatePullPointSubscription(Body(Hik, "events", "CreatePullPointSubscription.Response.xml"));
        Assert.Equal("http://10.10.1.60/onvif/Events/PullSubManager_2018-02-27T18:28:52Z_5", hik.Address.OriginalString);
        Assert.Equal(new DateTimeOffset(2018, 2, 27, 18, 29, 52, TimeSpan.Zero), hik.TerminationTime);
        Assert.Empty(hik.ReferenceParameters);
        var axis = EventParsers.ParseCreatePullPointSubscription(Body(Axis, "events", "CreatePullPointSubscription.Response.xml"));
        Assert.Equal("http://192.168.0.19/onvif/services", axis.Address.OriginalString);
        Assert.Equal("SubscriptionId", Assert.Single(axis.ReferenceParameters).Name.LocalName);
        var hik2 = EventParsers.ParseCreatePullPointSubscription(Body("hikvision-events", "create_pull_point_subscription.xml"));
        Assert.Equal("http://192.168.8.120/onvif/Events/PullSubManager_20250415T164937Z_0", hik2.Address.OriginalString);
    }

    [Fact]
    public void PullMessages_Hikvision_TopicsSourcesAndData()
    {
        var r = EventParsers.ParsePullMessages(Body("hikvision-events", "pull_messages.xml"));
        Assert.Equal(new DateTimeOffset(2025, 4, 18, 20, 34, 5, TimeSpan.Zero), r.CurrentTime);
        Assert.Equal(8, r.Messages.Count);
        var motion = r.Messages[0];
        Assert.Equal("tns1:VideoSource/MotionAlarm", motion.Topic);
        Assert.Equal("VideoSource_1", motion.SourceItem("Source"));
        Assert.Equal("false", motion.DataItem("State"));
        Assert.Equal("Initialized", motion.PropertyOperation);
        var cell = r.Messages[1];
        Assert.Equal("tns1:RuleEngine/CellMotionDetector/Motion", cell.Topic);
        Assert.Equal("VideoSourceToken", cell.SourceItem("VideoSourceConfigurationToken"));
        Assert.Equal("false", cell.DataItem("IsMotion"));
        Assert.Contains(r.Messages, m => m.Topic == "tns1:RuleEngine/FieldDetector/ObjectsInside" && m.DataItem("IsInside") == "false");
        Assert.Contains(r.Messages, m => m.Topic == "tns1:Monitoring/OperatingTime/LastReboot");
        Assert.Empty(EventParsers.ParsePullMessages(Body(Hik, "events", "PullMessages.Response.xml")).Messages);
    }

    [Fact]
    public void EventProperties_ListTopicLeaves()
    {
        var hik = EventParsers.ParseEventTopics(Body(Hik, "events", "GetEventProperties.Response.xml"));
        Assert.Contains("tns1:VideoSource/MotionAlarm", hik);
        Assert.Contains("tns1:RuleEngine/CellMotionDetector/Motion", hik);
        Assert.Equal(31, hik.Count);
        var axis = EventParsers.ParseEventTopics(Body(Axis, "events", "GetEventProperties.Response.xml"));
        Assert.Equal(25, axis.Count);
    }

    [Fact]
    public void ProfileG_RecordingsAndReplayUri()
    {
        Assert.Equal("RecordingSearchToken_1", RecordingParsers.ParseFindRecordings(Body("profile-g", "find_recordings.xml")));
        var (recs, done) = RecordingParsers.ParseRecordingSearchResults(Body("profile-g", "get_recording_search_results.xml"));
        Assert.True(done);
        Assert.Equal("OnvifRecordingToken_1", recs[0].Token);
        Assert.Equal(new DateTimeOffset(2025, 3, 15, 16, 28, 0, TimeSpan.Zero), recs[0].Latest);
        Assert.Equal("SD_DISK_20200422_123501_A2388AB3", RecordingParsers.ParseRecordings(Body("profile-g", "get_recordings.xml"))[0].Token);
        Assert.StartsWith("rtsp://192.168.1.136/onvif-media/record/play.amp?onvifreplayid=SD_DISK_20200422_132655_67086B52", RecordingParsers.ParseReplayUri(Body("profile-g", "get_replay_uri.xml")).OriginalString);
    }

    [Fact]
    public void Faults_BecomeClearErrors_WithCodeSubcodeAndReason()
    {
        var e = Assert.Throws<DeviceException>(() => Body("profile-g", "soap_fault.xml"));
        Assert.Equal(DeviceErrorKind.Failed, e.Kind);
        Assert.Equal(["ter:InvalidArgVal", "ter:NoProfile"], e.Fault()!.Subcodes);
        Assert.Equal("soap_fault.xml: the device answered with SOAP fault env:Sender/ter:InvalidArgVal/ter:NoProfile: Argument Value Invalid", e.Message);

        var axis = Assert.Throws<DeviceException>(() => Body(Axis, "events", "PullMessages.Error.xml"));
        Assert.Equal("SOAP-ENV:Sender", axis.Fault()!.Code);
        Assert.Equal(["ter:InvalidArgs"], axis.Fault()!.Subcodes);
        Assert.Contains("(no reason given)", axis.Message);

        var notSupported = Assert.Throws<DeviceException>(() => Body(Hik, "ptz", "GetCompatibleConfigurations.Error.xml"));
        Assert.NotNull(notSupported.Fault());
    }

    [Fact]
    public void DtdInResponse_IsRefused_NoEntityExpansion()
    {
        var laughs = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
            <env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><x>&lol2;</x></env:Body></env:Envelope>
            """;
        var e = Assert.Throws<DeviceException>(() => SoapEnvelope.ReadBody(System.Text.Encoding.UTF8.GetBytes(laughs), "GetProfiles"));
        Assert.Contains("GetProfiles: the device's response is not well-formed XML", e.Message);
        Assert.Contains("DTD", e.Message);
    }

    [Fact]
    public void Soap11Envelope_IsAcceptedLeniently_ButBodyNamespaceIsChecked()
    {
        var xml = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><tds:GetDeviceInformationResponse xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\"><tds:SerialNumber>X1</tds:SerialNumber></tds:GetDeviceInformationResponse></s:Body></s:Envelope>";
        Assert.Equal("X1", DeviceParsers.ParseDeviceInformation(SoapEnvelope.ReadBody(System.Text.Encoding.UTF8.GetBytes(xml), "GetDeviceInformation")).SerialNumber);
        var fault11 = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>Sender not Authorized</faultstring></s:Fault></s:Body></s:Envelope>";
        var e = Assert.Throws<DeviceException>(() => SoapEnvelope.ReadBody(System.Text.Encoding.UTF8.GetBytes(fault11), "GetDeviceInformation"));
        Assert.Equal(DeviceErrorKind.Unauthorized, e.Kind);
    }
}
