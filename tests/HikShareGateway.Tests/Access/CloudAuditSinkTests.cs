using System.Text.Json;
using HikShareGateway.Access.Audit;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Access;

[Trait("Category", "Unit")]
public class CloudAuditSinkTests
{
    [Fact]
    public void Record_PublishesContractJsonToAudit_NotRetained()
    {
        var publisher = new RecordingPublisher();
        var sink = new CloudAuditSink(publisher, NullLogger<CloudAuditSink>.Instance);
        sink.Record(new AuditEvent(DateTimeOffset.Parse("2026-11-25T10:00:01.5Z"), "s-1", "bob@example.com", "nvr-1", 2,
            Privilege.TwoWayAudio, AuditDecision.Revoked, "grant withdrawn", "192.0.2.7:5000"));
        var m = Assert.Single(publisher.Messages);
        Assert.Equal("audit", m.SubTopic);
        Assert.False(m.Retain);
        using var doc = JsonDocument.Parse(m.Payload);
        var r = doc.RootElement;
        Assert.Equal("2026-11-25T10:00:01.500Z", r.GetProperty("at").GetString());
        Assert.Equal("s-1", r.GetProperty("sessionId").GetString());
        Assert.Equal("bob@example.com", r.GetProperty("account").GetString());
        Assert.Equal("nvr-1", r.GetProperty("deviceId").GetString());
        Assert.Equal(2, r.GetProperty("channel").GetInt32());
        Assert.Equal("twoWayAudio", r.GetProperty("action").GetString());
        Assert.Equal("revoked", r.GetProperty("decision").GetString());
        Assert.Equal("grant withdrawn", r.GetProperty("reason").GetString());
        Assert.Equal("192.0.2.7:5000", r.GetProperty("remote").GetString());
        Assert.Equal(9, r.EnumerateObject().Count());
    }

    [Theory]
    [InlineData(AuditDecision.Allow, "allow")]
    [InlineData(AuditDecision.Deny, "deny")]
    [InlineData(AuditDecision.End, "end")]
    public void Decisions_UseContractNames(AuditDecision d, string name) => Assert.Equal(name, CloudAuditSink.DecisionName(d));
}
