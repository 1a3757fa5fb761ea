using Microsoft.Extensions.Configuration;
using HikShareGateway.Composition;

namespace HikShareGateway.Tests.Host;

[Trait("Category", "Unit")]
public class ConfigurationValidationTests
{
    private static List<string> Validate(Dictionary<string, string?> values)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var errors = new List<string>();
        Features.Build(config, new GatewayContext(false, CommandLine.Parse([]), DateTimeOffset.UnixEpoch), errors);
        return errors;
    }

    [Fact]
    public void Build_SeveralMistakes_ReportsEveryOneWithItsKey()
    {
        var errors = Validate(new()
        {
            ["Gateway:Id"] = "",
            ["Http:Port"] = "70000",
            ["Devices:0:Channels:0:Channel"] = "0",
            ["Devices:0:Channels:0:Main"] = "http://not-rtsp",
        });
        Assert.Contains(errors, e => e.StartsWith("Gateway:Id", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Http:Port", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Devices:0:DeviceId", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Devices:0:Channels:0:Channel", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Devices:0:Channels:0:Main", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_SnapshotSourceMistakes_AllReportedWithTheirKeys()
    {
        var errors = Validate(new()
        {
            ["Gateway:Id"] = "gw-1",
            ["Media:SnapshotSource"] = "camera",
            ["Media:SnapshotDeviceTimeoutMilliseconds"] = "50",
            ["Media:SnapshotDeviceMaxBytes"] = "1000",
            ["Devices:0:DeviceId"] = "nvr-1",
            ["Devices:0:SnapshotSource"] = "jpeg",
            ["Devices:0:Channels:0:Channel"] = "1",
            ["Devices:0:Channels:0:Main"] = "rtsp://192.0.2.1/101",
            ["Devices:1:OnvifUrl"] = "http://192.0.2.2/onvif/device_service",
            ["Devices:1:SnapshotSource"] = "device",
        });
        Assert.Contains(errors, e => e.StartsWith("Media:SnapshotSource \"camera\" is not one of auto, decode, device", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Media:SnapshotDeviceTimeoutMilliseconds 50", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Media:SnapshotDeviceMaxBytes 1000", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Devices:0:SnapshotSource \"jpeg\"", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Devices:1:SnapshotSource needs Devices:1:DeviceId", StringComparison.Ordinal));
        Assert.Empty(Validate(new() { ["Gateway:Id"] = "gw-1", ["Media:SnapshotSource"] = "Device", ["Devices:0:DeviceId"] = "nvr-1",
            ["Devices:0:SnapshotSource"] = "decode", ["Devices:0:Channels:0:Channel"] = "1", ["Devices:0:Channels:0:Main"] = "rtsp://192.0.2.1/101" }));
    }

    [Fact]
    public void Build_PasswordInStreamUrl_IsMaskedInError()
    {
        var errors = Validate(new()
        {
            ["Gateway:Id"] = "gw-1",
            ["Devices:0:DeviceId"] = "cam",
            ["Devices:0:Channels:0:Channel"] = "1",
            ["Devices:0:Channels:0:Main"] = "ftp://admin:secret@10.0.0.1/x",
        });
        Assert.NotEmpty(errors);
        Assert.DoesNotContain(errors, e => e.Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_DemoDefaults_AreValid()
    {
        var errors = Validate(DemoDefaults.Values);
        Assert.Empty(errors);
    }

    [Fact]
    public void Build_RtspMistakes_AllReportedWithKeyAndDefault()
    {
        var errors = Validate(new()
        {
            ["Gateway:Id"] = "gw-1",
            ["Rtsp:Port"] = "70000",
            ["Rtsp:BindAddress"] = "not-an-ip",
            ["Rtsp:ViewerQueueKiB"] = "0",
            ["Rtsp:UpstreamLingerSeconds"] = "-1",
        });
        Assert.Contains(errors, e => e.StartsWith("Rtsp:Port 70000 is out of range", StringComparison.Ordinal) && e.Contains("default 8554"));
        Assert.Contains(errors, e => e.StartsWith("Rtsp:BindAddress \"not-an-ip\"", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Rtsp:ViewerQueueKiB 0", StringComparison.Ordinal) && e.Contains("default 4096"));
        Assert.Contains(errors, e => e.StartsWith("Rtsp:UpstreamLingerSeconds -1", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_RtspsCertificateMissing_ReportedWithTheKey()
    {
        var errors = Validate(new() { ["Gateway:Id"] = "gw-1", ["Rtsp:TlsCertificateFile"] = "/nonexistent/rtsps.crt" });
        Assert.Contains(errors, e => e.StartsWith("Rtsp:TlsCertificateFile \"/nonexistent/rtsps.crt\" does not exist", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_RtspValueOfTheWrongType_NamesTheKey()
    {
        var errors = Validate(new() { ["Gateway:Id"] = "gw-1", ["Rtsp:MaxConnections"] = "abc" });
        Assert.Contains(errors, e => e.StartsWith("Rtsp", StringComparison.Ordinal) && e.Contains("MaxConnections") && e.Contains("'abc'"));
    }
}
