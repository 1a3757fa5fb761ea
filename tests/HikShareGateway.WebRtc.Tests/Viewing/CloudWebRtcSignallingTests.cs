using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Cloud;
using HikShareGateway.Core.WebRtc;
using HikShareGateway.WebRtc.Viewing;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.WebRtc.Tests.Viewing;

/// <summary>
/// Cloud signalling (contract v1.1 §3.1) over a fake viewing service that the test drives: a relayed session that ends
/// at the gateway, live or playback, publishes one <c>webrtc/close</c> with the cloud's session id and the reason, and
/// its entry goes (a later cloud close is a no-op); an end while the open still runs is published after the answer; a
/// cloud close while the open runs closes the session once it exists; a cloud close publishes nothing back.
/// </summary>
[Trait("Category", "Unit")]
public sealed class CloudWebRtcSignallingTests
{
    private const string Account = "viewer@example.com";
    private const string LivePath = "/live/nvr-1/1/main";
    private const string PlaybackPath = "/playback/nvr-1/1?start=20261125T100000Z&end=20261125T100010Z";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly FakeViewing _viewing = new();
    private readonly RecordingPublisher _publisher = new();
    private readonly CloudWebRtcSignalling _signalling;

    public CloudWebRtcSignallingTests()
    {
        _signalling = new CloudWebRtcSignalling(new TokenIsAccount(), () => _viewing, () => _publisher,
            NullLogger<CloudWebRtcSignalling>.Instance, () => _viewing);
    }

    private void Offer(string cloudId, string path) => _signalling.Receive(CloudTopics.WebRtcOfferSubTopic,
        JsonSerializer.SerializeToUtf8Bytes(new { sessionId = cloudId, token = "good", path, sdp = "v=0\r\n" }));

    private void CloudClose(string cloudId, string reason) => _signalling.Receive(CloudTopics.WebRtcCloseSubTopic,
        JsonSerializer.SerializeToUtf8Bytes(new { sessionId = cloudId, reason }));

    [Theory]
    [InlineData(PlaybackPath)]
    [InlineData(LivePath)]
    public async Task SessionEndedAtTheGateway_PublishesOneCloseWithTheCloudIdAndTheReason_ALaterCloudCloseIsANoOp(string path)
    {
        Offer("cloud-1", path);
        var session = await _viewing.Opened.ReadAsync().AsTask().WaitAsync(Timeout);
        session.Answer(201);
        var answer = await _publisher.Next().WaitAsync(Timeout);
        Assert.Equal((CloudTopics.WebRtcAnswerSubTopic, "cloud-1", 201), (answer.SubTopic, answer.SessionId, answer.Json.GetProperty("status").GetInt32()));
        Assert.Equal(path.StartsWith("/playback/", StringComparison.Ordinal), session.IsPlayback);

        // The gateway ends it (a revocation, as the viewing service reports it).
        session.EndAtGateway("revoked: the share was deleted");

        var close = await _publisher.Next().WaitAsync(Timeout);
        Assert.Equal((CloudTopics.WebRtcCloseSubTopic, "cloud-1"), (close.SubTopic, close.SessionId));
        Assert.Equal("revoked: the share was deleted", close.Json.GetProperty("reason").GetString());
        Assert.Equal(0, _signalling.RelayedCount);

        CloudClose("cloud-1", "viewer left");
        Assert.Empty(_viewing.Closes);
        Assert.Equal(2, _publisher.Messages.Count);
    }

    [Theory]
    [InlineData(PlaybackPath)]
    [InlineData(LivePath)]
    public async Task SessionEndedWhileTheOpenRuns_CloseIsPublishedOnce_AfterThe201_AndTheEntryIsGone(string path)
    {
        Offer("cloud-2", path);
        var session = await _viewing.Opened.ReadAsync().AsTask().WaitAsync(Timeout);

        // The race: the session ends (a failed handshake, a revocation) before the open has returned its answer.
        session.EndAtGateway("dtls Timeout");
        Assert.Empty(_publisher.Messages);
        session.Answer(201);

        var answer = await _publisher.Next().WaitAsync(Timeout);
        var close = await _publisher.Next().WaitAsync(Timeout);
        Assert.Equal((CloudTopics.WebRtcAnswerSubTopic, 201), (answer.SubTopic, answer.Json.GetProperty("status").GetInt32()));
        Assert.Equal((CloudTopics.WebRtcCloseSubTopic, "cloud-2", "dtls Timeout"), (close.SubTopic, close.SessionId, close.Json.GetProperty("reason").GetString()));
        Assert.Equal(0, _signalling.RelayedCount);

        CloudClose("cloud-2", "viewer left");
        Assert.Empty(_viewing.Closes);
        Assert.Equal(2, _publisher.Messages.Count);
    }

    [Theory]
    [InlineData(PlaybackPath)]
    [InlineData(LivePath)]
    public async Task CloudCloseWhileTheOpenRuns_ClosesTheSessionOnceItExists_AndPublishesNoClose(string path)
    {
        Offer("cloud-3", path);
        var session = await _viewing.Opened.ReadAsync().AsTask().WaitAsync(Timeout);

        CloudClose("cloud-3", "viewer left");
        Assert.Empty(_viewing.Closes); // no session id yet
        session.Answer(201);

        var answer = await _publisher.Next().WaitAsync(Timeout);
        Assert.Equal(CloudTopics.WebRtcAnswerSubTopic, answer.SubTopic);
        var closed = Assert.Single(_viewing.Closes);
        Assert.Equal((session.SessionId, Account, "closed through the cloud: viewer left"), closed);
        Assert.Equal(1, session.EndedCalls);
        Assert.Equal(0, _signalling.RelayedCount);
        Assert.Single(_publisher.Messages); // the answer only: the cloud asked for the close
    }

    [Theory]
    [InlineData(PlaybackPath)]
    [InlineData(LivePath)]
    public async Task CloudClose_ClosesTheRunningSession_AndItsEndPublishesNothingBack(string path)
    {
        Offer("cloud-4", path);
        var session = await _viewing.Opened.ReadAsync().AsTask().WaitAsync(Timeout);
        session.Answer(201);
        await _publisher.Next().WaitAsync(Timeout);

        CloudClose("cloud-4", "viewer left");

        Assert.Equal((session.SessionId, Account, "closed through the cloud: viewer left"), Assert.Single(_viewing.Closes));
        Assert.Equal(1, session.EndedCalls);
        Assert.Equal(0, _signalling.RelayedCount);
        Assert.Single(_publisher.Messages);
    }

    [Theory]
    [InlineData(PlaybackPath)]
    [InlineData(LivePath)]
    public async Task RefusedOffer_LeavesNoEntry(string path)
    {
        Offer("cloud-5", path);
        var session = await _viewing.Opened.ReadAsync().AsTask().WaitAsync(Timeout);
        session.Answer(403);

        var answer = await _publisher.Next().WaitAsync(Timeout);
        Assert.Equal(403, answer.Json.GetProperty("status").GetInt32());
        Assert.Equal(0, _signalling.RelayedCount);
    }

    /// <summary>One open the test answers, and the <c>Ended</c> the signalling gave it.</summary>
    private sealed class PendingOpen(bool isPlayback, Action<string, string> ended)
    {
        private readonly TaskCompletionSource<WebRtcAnswer> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _ended;

        public bool IsPlayback { get; } = isPlayback;
        public string SessionId { get; } = Guid.NewGuid().ToString("N");
        public Task<WebRtcAnswer> Answered => _answer.Task;
        public int EndedCalls => Volatile.Read(ref _ended);

        public void Answer(int status) =>
            _answer.SetResult(status == 201 ? new WebRtcAnswer(201, SessionId, "v=0\r\n", "created") : WebRtcAnswer.Refused(status, "refused"));

        /// <summary>As the viewing service's handle does: once, however the session ends.</summary>
        public bool EndAtGateway(string reason)
        {
            if (Interlocked.Exchange(ref _ended, 1) != 0) return false;
            ended(SessionId, reason);
            return true;
        }
    }

    private sealed class FakeViewing : IWebRtcViewing, IWebRtcPlayback
    {
        private readonly Channel<PendingOpen> _opened = Channel.CreateUnbounded<PendingOpen>();
        private readonly ConcurrentDictionary<string, PendingOpen> _sessions = new();
        private readonly ConcurrentQueue<(string SessionId, string Account, string Reason)> _closes = new();

        public ChannelReader<PendingOpen> Opened => _opened.Reader;
        public IReadOnlyList<(string SessionId, string Account, string Reason)> Closes => [.. _closes];
        public int SessionCount => _sessions.Count;

        public Task<WebRtcAnswer> OpenLiveAsync(WebRtcLiveOffer offer, CancellationToken ct) => Open(false, offer.Account, offer.Ended!);

        public Task<WebRtcAnswer> OpenPlaybackAsync(WebRtcPlaybackOffer offer, CancellationToken ct) => Open(true, offer.Account, offer.Ended!);

        private Task<WebRtcAnswer> Open(bool playback, string account, Action<string, string> ended)
        {
            Assert.Equal(Account, account);
            var open = new PendingOpen(playback, ended);
            _sessions[open.SessionId] = open;
            _opened.Writer.TryWrite(open);
            return open.Answered;
        }

        public bool Close(string sessionId, string account, string reason)
        {
            _closes.Enqueue((sessionId, account, reason));
            return _sessions.TryGetValue(sessionId, out var open) && open.EndAtGateway(reason);
        }

        public bool AcceptTrickle(string sessionId, string account, ReadOnlySpan<byte> fragment) => false;

        public Task<WebRtcPlaybackControlResult> ControlAsync(string sessionId, string account, WebRtcPlaybackControl control, CancellationToken ct)
            => Task.FromResult(new WebRtcPlaybackControlResult(404, "not here"));
    }

    private sealed record Published(string SubTopic, string SessionId, JsonElement Json);

    private sealed class RecordingPublisher : ICloudPublisher
    {
        private readonly Channel<Published> _next = Channel.CreateUnbounded<Published>();
        private readonly ConcurrentQueue<Published> _all = new();

        public IReadOnlyList<Published> Messages => [.. _all];

        public Task<Published> Next() => _next.Reader.ReadAsync().AsTask();

        public void Publish(string subTopic, ReadOnlyMemory<byte> payload, bool retain)
        {
            Assert.False(retain);
            var json = JsonDocument.Parse(payload).RootElement.Clone();
            var message = new Published(subTopic, json.GetProperty("sessionId").GetString()!, json);
            _all.Enqueue(message);
            _next.Writer.TryWrite(message);
        }
    }

    private sealed class TokenIsAccount : IViewerAuthenticator
    {
        public AuthResult Authenticate(in ViewerCredentials credentials, IPAddress? remote)
            => credentials.BearerToken == "good" ? AuthResult.Success(Account) : AuthResult.Fail("bad token");
    }
}
