using HikShareGateway.Composition;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Tests.Host;

/// <summary>
/// A viewer token in a URL query (<c>?token=</c>, contract §4 and §5.2) never reaches a log line, whoever logs the URL:
/// the one enricher of the logging pipeline replaces the value.
/// </summary>
[Trait("Category", "Unit")]
public sealed partial class TokenRedactionTests
{
    private const string Token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl-_x";

    [Theory]
    [InlineData("/api/v1/live/d/1/main.mp4?token=" + Token, "/api/v1/live/d/1/main.mp4?token=***")]
    [InlineData("?x=1&token=" + Token + "&y=2", "?x=1&token=***&y=2")]
    [InlineData("rtsp://h:8554/live/d/1?TOKEN=" + Token + " RTSP/1.0", "rtsp://h:8554/live/d/1?TOKEN=*** RTSP/1.0")]
    [InlineData("a?token=1&b?token=2", "a?token=***&b?token=***")]
    [InlineData("token=", "token=")]
    public void RedactTokens_TheQueryValueBecomesStars_TheRestStays(string input, string expected) =>
        Assert.Equal(expected, LogEscapingEnricher.RedactTokens(input));

    [Fact]
    public void RedactTokens_NoToken_SameInstance()
    {
        var s = "/api/v1/devices";
        Assert.Same(s, LogEscapingEnricher.RedactTokens(s));
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Request starting {Method} {Path}{QueryString}")]
    private static partial void LogRequest(Microsoft.Extensions.Logging.ILogger logger, string method, string path, string queryString);

    [Fact]
    public void Pipeline_ARequestLineWithTheQuery_IsRenderedWithoutTheToken()
    {
        using var pipeline = new RenderedLogPipeline();
        LogRequest(pipeline.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics"), "GET", "/api/v1/live/demo-nvr-1/1/main.mp4", "?token=" + Token);
        var line = pipeline.Text;
        Assert.Contains("main.mp4?token=***", line);
        Assert.DoesNotContain(Token, line);
    }
}
