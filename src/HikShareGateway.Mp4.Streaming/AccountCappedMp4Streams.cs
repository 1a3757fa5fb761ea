using HikShareGateway.Core.Access;
using HikShareGateway.Core.Streaming;

namespace HikShareGateway.Mp4.Streaming;

/// <summary>
/// The per-account session cap (<c>Limits:SessionsPerAccount</c>, shared with RTSP) in front of the fMP4 streams: a
/// live or playback response holds one of its account's slots from before the device is asked until the response
/// ends; past the cap the answer is 503 before anything is opened (so an account at its cap learns nothing of devices).
/// </summary>
public sealed class AccountCappedMp4Streams(IMp4Streams inner, AccountSessionLimiter limits) : IMp4Streams
{
    public Task<Mp4Open> OpenLiveAsync(Mp4LiveRequest request, CancellationToken ct) =>
        OpenAsync(request.Account, ct, (r, c) => inner.OpenLiveAsync(r, c), request);

    public Task<Mp4Open> OpenPlaybackAsync(Mp4PlaybackRequest request, CancellationToken ct) =>
        OpenAsync(request.Account, ct, (r, c) => inner.OpenPlaybackAsync(r, c), request);

    private async Task<Mp4Open> OpenAsync<T>(string account, CancellationToken ct, Func<T, CancellationToken, Task<Mp4Open>> open, T request)
    {
        if (!limits.TryAcquire(account, "fmp4", out var slot))
        {
            return Mp4Open.Failed(Mp4OpenStatus.Unavailable, $"this account has its maximum of {limits.PerAccount} sessions; close one and try again");
        }
        Mp4Open result;
        try
        {
            result = await open(request, ct).ConfigureAwait(false);
        }
        catch
        {
            slot!.Dispose();
            throw;
        }
        if (result.Stream is null)
        {
            slot!.Dispose();
            return result;
        }
        return result with { Stream = new SlotHoldingStream(result.Stream, slot!) };
    }

    /// <summary>The stream, and the slot it gives back when it is disposed.</summary>
    private sealed class SlotHoldingStream(IMp4Stream stream, IDisposable slot) : IMp4Stream
    {
        public Task<Mp4StreamEnd> CopyToAsync(Stream output, Action<string> onStart, CancellationToken ct) => stream.CopyToAsync(output, onStart, ct);

        public async ValueTask DisposeAsync()
        {
            try
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                slot.Dispose();
            }
        }
    }
}
