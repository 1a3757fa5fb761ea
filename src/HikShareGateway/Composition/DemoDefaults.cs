namespace HikShareGateway.Composition;

/// <summary>
/// The embedded default of <c>hikshare-gateway demo</c>: a demo recorder inside the process, an
/// embedded MQTT broker, a demo cloud key and share. Nothing leaves the machine.
/// </summary>
public static class DemoDefaults
{
    public const string GatewayId = "gw-demo";
    public const string DeviceId = "demo-nvr-1";
    public const int DemoCameraPort = 18554;

    public static Dictionary<string, string?> Values { get; } = new()
    {
        ["Gateway:Id"] = GatewayId,
        ["Gateway:StateDirectory"] = Path.Combine(Path.GetTempPath(), "hikshare-gateway-demo"),
        ["Rtsp:Port"] = "8554",
        ["Http:Port"] = "8080",
        ["Discovery:Enabled"] = "false",
        ["Devices:0:DeviceId"] = DeviceId,
        ["Devices:0:Username"] = "admin",
        ["Devices:0:Password"] = "demo-password",
        ["Devices:0:Channels:0:Channel"] = "1",
        ["Devices:0:Channels:0:Name"] = "Demo camera",
        ["Devices:0:Channels:0:Main"] = $"rtsp://127.0.0.1:{DemoCameraPort}/Streaming/Channels/101",
        ["Devices:0:Channels:0:Sub"] = $"rtsp://127.0.0.1:{DemoCameraPort}/Streaming/Channels/102",
    };
}
