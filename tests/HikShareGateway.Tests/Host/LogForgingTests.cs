using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using HikShareGateway.Composition;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Tests.Host;

/// <summary>
/// Nothing a client, device or broker sends can start a log line of its own (issue: log forging). The escaping is
/// one enricher in the logging pipeline; these tests check it on the rendered console line, and end to end on the
/// demo process's stdout for each way in: RTSP path, RTSP query, HTTP route values.
/// </summary>
[Trait("Category", "Unit")]
public sealed partial class LogForgingTests
{
    internal const string Forged = "[08:00:00 INF] HikShareGateway.Access.Audit.CloudAuditSink: Audit allow liveView FORGED";

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Audit deny device {DeviceId} header {UserAgent} fields {Fields}")]
    private static partial void LogValues(Microsoft.Extensions.Logging.ILogger logger, string deviceId, string userAgent, string[] fields);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Device call failed")]
    private static partial void LogFailure(Microsoft.Extensions.Logging.ILogger logger, Exception e);

    [Fact]
    public void ValuesWithLineBreaksAndControls_RenderOnOneLine_Escaped()
    {
        var pipeline = new RenderedLogPipeline();
        using (pipeline)
        {
            LogValues(pipeline.CreateLogger("HikShareGateway.Tests"), "x\n" + Forged, "evil\u001b[31mred\u0007\r", ["a\u2028b", "ok"]);
        }
        var text = pipeline.Text;
        Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(@"device x\n[08:00:00 INF]", text);
        Assert.Contains(@"evil\x1B[31mred\x07\r", text);
        Assert.Contains("u2028b", text); // a sequence is rendered as JSON: the escape's backslash is escaped again
        Assert.DoesNotContain('\u2028', text);
        Assert.DoesNotContain('\u001b', text);
    }

    [Fact]
    public void ExceptionMessageFromADevice_IsEscaped_StackTraceKeepsItsLines()
    {
        var pipeline = new RenderedLogPipeline();
        Exception thrown;
        try
        {
            throw new InvalidOperationException("outer", new IOException("device said: \r\n" + Forged));
        }
        catch (Exception e)
        {
            thrown = e;
        }
        using (pipeline)
        {
            LogFailure(pipeline.CreateLogger("HikShareGateway.Tests"), thrown);
        }
        var lines = pipeline.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain(lines, l => l.StartsWith("[08:00:00", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(@"System.IO.IOException: device said: \r\n[08:00:00 INF]", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal)); // the stack trace is still there
    }
}

/// <summary>The same, end to end on the demo process's stdout: RTSP path, RTSP query, HTTP route value.</summary>
[Trait("Category", "Integration")]
public sealed class LogForgingDemoTests
{
    private const string Forged = LogForgingTests.Forged;

    [Fact]
    public async Task DemoProcess_ForgedLinesInRtspPathQueryAndHttpRoute_StayInsideTheirOwnLine()
    {
        await using var demo = await DemoGatewayProcess.StartAsync();
        var encoded = Uri.EscapeDataString("\n" + Forged);

        // RTSP path (device id and channel) and query, with a valid token: audit deny lines name the device.
        Assert.Equal("RTSP/1.0 403 Forbidden", await DescribeAsync(demo, $"/live/x{encoded}/1/main?token={demo.Token}"));
        Assert.StartsWith("RTSP/1.0 4", await DescribeAsync(demo, $"/live/demo-nvr-1/1/main?token={demo.Token}{encoded}"));
        // HTTP route value.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{demo.HttpPort}") };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/devices/y{encoded}/channels/1/ptz/presets");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", demo.Token);
        using var response = await http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, response.StatusCode);

        await demo.WaitForOutputAsync(@"device x\n[08:00:00 INF]");
        await demo.WaitForOutputAsync(@"device y\n[08:00:00 INF]");
        var lines = demo.Output.Split('\n');
        Assert.DoesNotContain(lines, l => l.StartsWith("[08:00:00 INF]", StringComparison.Ordinal));
        Assert.Equal(lines.Count(l => l.Contains("FORGED", StringComparison.Ordinal)), lines.Count(l => l.Contains(@"\n[08:00:00 INF]", StringComparison.Ordinal)));
    }

    private static async Task<string> DescribeAsync(DemoGatewayProcess demo, string pathAndQuery)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", demo.RtspPort);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"DESCRIBE rtsp://127.0.0.1:{demo.RtspPort}{pathAndQuery} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: t\u0007\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadLineAsync() ?? "";
    }
}
