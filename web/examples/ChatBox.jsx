import { useChat } from '@ai-sdk/react';
import { useState } from 'react';
import { createChat } from './chat.js';

export function ChatBox() {
  const [usage, setUsage] = useState(null);
  const [chat] = useState(() => createChat(setUsage));
  const { messages, sendMessage, status, stop, error, regenerate } = useChat({ chat });
  const [input, setInput] = useState('');
  const busy = status === 'submitted' || status === 'streaming';

  return (
    <div>
      {messages.map((message) => (
        <p key={message.id}>
          <b>{message.role}:</b> {message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('')}
        </p>
      ))}
      {status === 'submitted' && <p aria-live="polite">Thinking…</p>}
      {error && <p role="alert">{error.message} <button onClick={() => regenerate()}>Retry</button></p>}
      {usage && <small>{usage.inputTokens} in · {usage.outputTokens} out · ${usage.costUsd}</small>}
      <form onSubmit={(event) => { event.preventDefault(); sendMessage({ text: input }); setInput(''); }}>
        <input value={input} onChange={(event) => setInput(event.target.value)} aria-label="Message" />
        {busy ? <button type="button" onClick={stop}>Stop</button> : <button disabled={!input}>Send</button>}
      </form>
    </div>
  );
}
