using System.Text;
using HikShareGateway.Http.Whep;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>The body of <c>POST /whep/sessions/{id}/seek</c>: exactly one of start, scale, pause.</summary>
[Trait("Category", "Unit")]
public sealed class WhepPlaybackControlTests
{
    [Theory]
    [InlineData("""{"start":"2026-11-25T10:00:05Z"}""")]
    [InlineData("""{"start":"20261125T100005Z"}""")]
    public void Start_IsASeekToThatUtcTime(string json)
    {
        Assert.True(WhepPlaybackEndpoints.TryParseControl(Encoding.UTF8.GetBytes(json), out var c));
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 10, 0, 5, TimeSpan.Zero), c.Start);
        Assert.Null(c.Pause);
        Assert.Null(c.Scale);
    }

    [Theory]
    [InlineData("""{"pause":true}""", true)]
    [InlineData("""{"pause":false}""", false)]
    public void Pause_IsPauseOrResume(string json, bool pause)
    {
        Assert.True(WhepPlaybackEndpoints.TryParseControl(Encoding.UTF8.GetBytes(json), out var c));
        Assert.Equal(pause, c.Pause);
    }

    [Fact]
    public void Scale_IsANumber()
    {
        Assert.True(WhepPlaybackEndpoints.TryParseControl("""{"scale":2}"""u8, out var c));
        Assert.Equal(2, c.Scale);
    }

    [Theory]
    [InlineData("2", 2.0)]
    [InlineData("0.5", 0.5)]
    [InlineData("64", 64.0)]
    public void UrlScale_IsASpeedAbove0UpTo64(string text, double scale)
    {
        Assert.True(WhepPlaybackEndpoints.TryScale(text, out var s));
        Assert.Equal(scale, s);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("65")]
    [InlineData("2,5")]
    [InlineData("1e3")]
    [InlineData("NaN")]
    [InlineData("fast")]
    public void UrlScale_OtherwiseIsRefused(string text)
    {
        Assert.False(WhepPlaybackEndpoints.TryScale(text, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("""{"start":"2026-11-25T10:00:05"}""")]       // no zone: ambiguous
    [InlineData("""{"start":""}""")]
    [InlineData("""{"start":5}""")]
    [InlineData("""{"pause":"yes"}""")]
    [InlineData("""{"scale":0}""")]
    [InlineData("""{"scale":-1}""")]
    [InlineData("""{"scale":1000}""")]
    [InlineData("""{"pause":true,"scale":2}""")]              // one control at a time
    [InlineData("""{"rewind":1}""")]
    [InlineData("""{"start":{"deep":{"deeper":1}}}""")]
    public void AnythingElse_IsRefused(string json)
    {
        Assert.False(WhepPlaybackEndpoints.TryParseControl(Encoding.UTF8.GetBytes(json), out _));
    }

    [Fact]
    public void EveryProperPrefixOfAControl_IsRefused()
    {
        var json = Encoding.UTF8.GetBytes("""{"start":"2026-11-25T10:00:05Z"}""");
        for (var n = 0; n < json.Length; n++)
        {
            Assert.False(WhepPlaybackEndpoints.TryParseControl(json.AsSpan(0, n), out _), $"prefix of {n} bytes");
        }
        Assert.True(WhepPlaybackEndpoints.TryParseControl(json, out _));
    }
}
